// Runs the PathInfoService conformance suite against memory:// and lmdb://,
// plus what only LMDB has: persistence, sharing an environment with the
// castore services, and damaged stored values.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "castore/roots/lmdb_root_service.h"
#include "castore/testing/temp_dir.h"
#include "nix/pathinfo/lmdb_path_info_service.h"
#include "nix/pathinfo/memory_path_info_service.h"
#include "nix/pathinfo/path_info_service_conformance.h"

namespace castor::nix {
namespace {

INSTANTIATE_TEST_SUITE_P(Memory, PathInfoServiceConformance,
                         ::testing::Values(PathInfoBackend{
                             "memory", [] { return std::make_shared<MemoryPathInfoService>(); }}),
                         castore::BackendName);

std::shared_ptr<PathInfoService> MakeLmdb() {
  return castore::testing::InTempDir<PathInfoService>("lmdb-pathinfo", [](const std::string& dir) {
    auto s = LmdbPathInfoService::Open(dir + "/meta");
    CASTOR_CHECK(s.ok());
    return std::shared_ptr<PathInfoService>(*s);
  });
}

INSTANTIATE_TEST_SUITE_P(Lmdb, PathInfoServiceConformance,
                         ::testing::Values(PathInfoBackend{"lmdb", MakeLmdb}),
                         castore::BackendName);

PathInfo Sample(std::string_view base) {
  return *PathInfo::Create({
      .store_path = *StorePath::FromBaseName(base),
      .node = castore::SymlinkNode{*castore::SymlinkTarget::Create("target")},
      .nar_size = 100,
      .nar_sha256 = NixHash::Of(HashAlgo::kSha256, base),
  });
}

class LmdbPathInfoTest : public ::testing::Test {
 protected:
  castore::testing::TempDir dir_{"lmdb-pathinfo"};
  std::string path() const { return dir_.path() + "/meta"; }

  // Writes raw bytes under a key of the "pathinfo" database.
  void PutRaw(std::string_view key, std::string_view value) {
    auto env = castore::LmdbEnv::Open(path());
    ASSERT_TRUE(env.ok()) << env.status();
    auto dbi = (*env)->Db(LmdbPathInfoService::kDbName);
    ASSERT_TRUE(dbi.ok());
    auto txn = castore::LmdbTxn::Begin(**env, /*write=*/true);
    ASSERT_TRUE(txn.ok());
    ASSERT_TRUE(txn->Put(*dbi, key, value).ok());
    ASSERT_TRUE(txn->Commit().ok());
  }
};

TEST_F(LmdbPathInfoTest, PathInfosSurviveReopening) {
  PathInfo info = Sample("5klkkbyyd681lz12kb5jgyvjv3rjgq0n-t");
  {
    auto s = LmdbPathInfoService::Open(path());
    ASSERT_TRUE(s.ok()) << s.status();
    ASSERT_TRUE((*s)->Put(info).ok());
  }
  auto s = LmdbPathInfoService::Open(path());
  ASSERT_TRUE(s.ok());
  auto got = (*s)->Get(info.store_path().digest());
  ASSERT_TRUE(got.ok() && got->has_value()) << got.status();
  EXPECT_TRUE(**got == info);
}

TEST_F(LmdbPathInfoTest, SharesTheEnvironmentWithTheRootService) {
  auto env = castore::LmdbEnv::Open(path());
  ASSERT_TRUE(env.ok());
  auto roots = castore::LmdbRootService::Open(*env);
  auto infos = LmdbPathInfoService::Open(*env);
  ASSERT_TRUE(roots.ok() && infos.ok());
  ASSERT_TRUE((*roots)
                  ->Put({*castore::PathComponent::Create("r"),
                         castore::SymlinkNode{*castore::SymlinkTarget::Create("t")}})
                  .ok());
  ASSERT_TRUE((*infos)->Put(Sample("5klkkbyyd681lz12kb5jgyvjv3rjgq0n-t")).ok());
  int n = 0;
  ASSERT_TRUE((*roots)
                  ->List([&](const castore::Entry&) {
                    ++n;
                    return absl::OkStatus();
                  })
                  .ok());
  EXPECT_EQ(n, 1);  // path infos are not roots
}

TEST_F(LmdbPathInfoTest, UndecodableValueIsDataLoss) {
  PathInfo info = Sample("5klkkbyyd681lz12kb5jgyvjv3rjgq0n-t");
  PutRaw(info.store_path().digest_bytes(), "\xff\xff not a path info");
  auto s = LmdbPathInfoService::Open(path());
  ASSERT_TRUE(s.ok());
  auto got = (*s)->Get(info.store_path().digest());
  EXPECT_EQ(got.status().code(), absl::StatusCode::kDataLoss) << got.status();
  EXPECT_NE(got.status().message().find("5klkkbyyd681lz12kb5jgyvjv3rjgq0n"), std::string::npos);
  absl::Status list = (*s)->List([](const PathInfo&) { return absl::OkStatus(); });
  EXPECT_EQ(list.code(), absl::StatusCode::kDataLoss) << list;
}

TEST_F(LmdbPathInfoTest, ValueUnderAnotherDigestIsDataLoss) {
  PathInfo info = Sample("5klkkbyyd681lz12kb5jgyvjv3rjgq0n-t");
  PathInfo other = Sample("00000000000000000000000000000000-t");
  PutRaw(other.store_path().digest_bytes(), info.Encode());
  auto s = LmdbPathInfoService::Open(path());
  ASSERT_TRUE(s.ok());
  auto got = (*s)->Get(other.store_path().digest());
  EXPECT_EQ(got.status().code(), absl::StatusCode::kDataLoss) << got.status();
  EXPECT_NE(got.status().message().find("stored value is for"), std::string::npos);
}

}  // namespace
}  // namespace castor::nix
