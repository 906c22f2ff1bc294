#include "castore/roots/lmdb_root_service.h"

#include <gtest/gtest.h>

#include <string>

#include "castore/testing/temp_dir.h"

namespace castor::castore {
namespace {

void RawPut(LmdbEnv& env, std::string_view key, std::string_view value) {
  MDB_txn* txn = nullptr;
  ASSERT_EQ(mdb_txn_begin(env.env(), nullptr, 0, &txn), 0);
  MDB_dbi dbi;
  ASSERT_EQ(mdb_dbi_open(txn, "roots", MDB_CREATE, &dbi), 0);
  MDB_val k = ToVal(key), v = ToVal(value);
  ASSERT_EQ(mdb_put(txn, dbi, &k, &v, 0), 0);
  ASSERT_EQ(mdb_txn_commit(txn), 0);
}

Entry FileRoot(std::string_view name) {
  return {*PathComponent::Create(name), FileNode{B3Digest::Of(name), name.size(), false}};
}

class LmdbRootServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto env = LmdbEnv::Open(dir_.path() + "/meta");
    ASSERT_TRUE(env.ok()) << env.status();
    env_ = *env;
    auto s = LmdbRootService::Open(env_);
    ASSERT_TRUE(s.ok()) << s.status();
    service_ = *s;
  }
  testing::TempDir dir_{"lmdb-roots"};
  std::shared_ptr<LmdbEnv> env_;
  std::shared_ptr<LmdbRootService> service_;
};

TEST_F(LmdbRootServiceTest, GarbageValueIsDataLossNamingTheRoot) {
  RawPut(*env_, "broken", "\xff\x01 not a node");
  auto got = service_->Get(*PathComponent::Create("broken"));
  EXPECT_EQ(got.status().code(), absl::StatusCode::kDataLoss) << got.status();
  EXPECT_NE(got.status().message().find("broken"), std::string::npos) << got.status();
  absl::Status list = service_->List([](const Entry&) { return absl::OkStatus(); });
  EXPECT_EQ(list.code(), absl::StatusCode::kDataLoss) << list;
  EXPECT_NE(list.message().find("broken"), std::string::npos) << list;
}

TEST_F(LmdbRootServiceTest, EmptyValueIsDataLoss) {
  RawPut(*env_, "empty", "");
  auto got = service_->Get(*PathComponent::Create("empty"));
  EXPECT_EQ(got.status().code(), absl::StatusCode::kDataLoss) << got.status();
}

TEST_F(LmdbRootServiceTest, EntryNamedDifferentlyFromItsKeyIsDataLoss) {
  RawPut(*env_, "alias", EncodeEntry(FileRoot("original")));
  auto got = service_->Get(*PathComponent::Create("alias"));
  EXPECT_EQ(got.status().code(), absl::StatusCode::kDataLoss) << got.status();
  EXPECT_NE(got.status().message().find("alias"), std::string::npos) << got.status();
  EXPECT_NE(got.status().message().find("original"), std::string::npos) << got.status();
}

TEST_F(LmdbRootServiceTest, InvalidNameKeyIsDataLossNotACrash) {
  // A key that is not a valid path component, with a value naming it.
  RawPut(*env_, "a/b", EncodeEntry(FileRoot("ab")));
  absl::Status list = service_->List([](const Entry&) { return absl::OkStatus(); });
  EXPECT_EQ(list.code(), absl::StatusCode::kDataLoss) << list;
}

TEST_F(LmdbRootServiceTest, RootsSurviveReopening) {
  std::string high = "\xc3\xa9t\xc3\xa9\xff";
  ASSERT_TRUE(service_->Put(FileRoot(high)).ok());
  ASSERT_TRUE(service_->Put(FileRoot("plain")).ok());
  std::string path = env_->path();
  service_.reset();
  env_.reset();
  auto reopened = LmdbRootService::Open(path);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  std::vector<std::string> names;
  ASSERT_TRUE((*reopened)
                  ->List([&](const Entry& e) {
                    names.push_back(e.name.str());
                    return absl::OkStatus();
                  })
                  .ok());
  EXPECT_EQ(names, (std::vector<std::string>{"plain", high}));
}

}  // namespace
}  // namespace castor::castore
