#include "nix/pathinfo/path_info_service_conformance.h"

#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "nix/encoding.h"

namespace castor::nix {

GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(PathInfoServiceConformance);

namespace {

// A store path whose digest starts with `first` (so tests choose the order).
StorePath Path(uint8_t first, std::string_view name, uint8_t fill = 7) {
  std::string digest(StorePath::kDigestSize, static_cast<char>(fill));
  digest[0] = static_cast<char>(first);
  return *StorePath::FromDigestAndName(digest, name);
}

PathInfo Info(const StorePath& path,
              castore::Node node = castore::FileNode{castore::B3Digest::Of("contents"), 8, false}) {
  return *PathInfo::Create({
      .store_path = path,
      .node = std::move(node),
      .nar_size = 120,
      .nar_sha256 = NixHash::Of(HashAlgo::kSha256, path.BaseName()),
  });
}

PathInfo FullInfo(const StorePath& path) {
  auto key = SecretKey::Generate("conformance-1");
  PathInfo info = *PathInfo::Create({
      .store_path = path,
      .node = castore::DirectoryNode{castore::B3Digest::Of("a directory"), 42},
      .references = {Path(9, "zlib-1.3"), Path(1, "glibc-2.40"), path},
      .nar_size = 123456,
      .nar_sha256 = NixHash::Of(HashAlgo::kSha256, "nar"),
      .deriver = Path(4, "hello-2.12.drv"),
      .ca = *ContentAddress::Create(ContentAddress::Method::kNixArchive,
                                    NixHash::Of(HashAlgo::kSha256, "ca")),
  });
  return info.WithSignature(*key);
}

absl::StatusOr<std::vector<PathInfo>> ListAll(PathInfoService& s) {
  std::vector<PathInfo> out;
  absl::Status st = s.List([&](const PathInfo& p) {
    out.push_back(p);
    return absl::OkStatus();
  });
  if (!st.ok()) return st;
  return out;
}

}  // namespace

void PathInfoServiceConformance::SetUp() {
  service_ = GetParam().make();
  ASSERT_NE(service_, nullptr) << "backend " << GetParam().name << " made no service";
}

TEST_P(PathInfoServiceConformance, EmptyServiceHasNothing) {
  auto got = service().Get(Path(1, "x").digest());
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_FALSE(got->has_value());
  auto all = ListAll(service());
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_TRUE(all->empty());
}

TEST_P(PathInfoServiceConformance, PutGetRoundTripKeepsEveryField) {
  std::vector<PathInfo> infos = {
      FullInfo(Path(5, "hello-2.12")),
      Info(Path(6, "a-file")),
      Info(Path(7, "a-link"), castore::SymlinkNode{*castore::SymlinkTarget::Create("x/y")}),
      Info(Path(8, std::string(StorePath::kMaxNameLength, 'n'))),
  };
  for (const PathInfo& info : infos) {
    auto put = service().Put(info);
    ASSERT_TRUE(put.ok()) << put.status();
    EXPECT_TRUE(*put == info);
  }
  for (const PathInfo& info : infos) {
    SCOPED_TRACE(info.store_path().BaseName());
    auto got = service().Get(info.store_path().digest());
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_TRUE(got->has_value());
    EXPECT_TRUE(**got == info);
  }
  // The signature still verifies after the round trip.
  auto got = service().Get(infos[0].store_path().digest());
  ASSERT_TRUE(got.ok() && got->has_value());
  ASSERT_EQ((*got)->signatures().size(), 1u);
  EXPECT_EQ((*got)->references(), infos[0].references());  // order kept
}

TEST_P(PathInfoServiceConformance, GetIsByDigestOnly) {
  ASSERT_TRUE(service().Put(Info(Path(3, "one"))).ok());
  auto other = service().Get(Path(3, "one", /*fill=*/8).digest());
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_FALSE(other->has_value());
}

TEST_P(PathInfoServiceConformance, PutReplacesThePathInfoOfTheSameDigest) {
  ASSERT_TRUE(service().Put(Info(Path(3, "one"))).ok());
  PathInfo replacement = FullInfo(Path(3, "one"));
  ASSERT_TRUE(service().Put(replacement).ok());
  auto got = service().Get(replacement.store_path().digest());
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_TRUE(**got == replacement);
  auto all = ListAll(service());
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 1u);
}

TEST_P(PathInfoServiceConformance, RemoveDropsOnlyThatPathInfoAndSaysWhetherItExisted) {
  ASSERT_TRUE(service().Put(Info(Path(3, "one"))).ok());
  ASSERT_TRUE(service().Put(Info(Path(4, "two"))).ok());
  auto removed = service().Remove(Path(3, "one").digest());
  if (removed.status().code() == absl::StatusCode::kUnimplemented) {
    GTEST_SKIP() << "this backend's protocol has no Remove: " << removed.status();
  }
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_TRUE(*removed);
  auto got = service().Get(Path(3, "one").digest());
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_FALSE(got->has_value());
  auto again = service().Remove(Path(3, "one").digest());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(*again);
  auto all = ListAll(service());
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0].store_path().name(), "two");
}

TEST_P(PathInfoServiceConformance, ListIsSortedByDigest) {
  for (uint8_t first : {0xff, 0x00, 0x80, 0x7f, 0x01}) {
    ASSERT_TRUE(service().Put(Info(Path(first, absl::StrCat("p", first)))).ok());
  }
  auto all = ListAll(service());
  ASSERT_TRUE(all.ok()) << all.status();
  std::vector<int> firsts;
  for (const PathInfo& p : *all) firsts.push_back(p.store_path().digest()[0]);
  EXPECT_EQ(firsts, (std::vector<int>{0x00, 0x01, 0x7f, 0x80, 0xff}));
}

TEST_P(PathInfoServiceConformance, ListCoversManyPathInfos) {
  // More than one LMDB listing batch.
  for (int i = 0; i < 600; ++i) {
    std::string digest(StorePath::kDigestSize, '\0');
    digest[0] = static_cast<char>(i >> 8);
    digest[1] = static_cast<char>(i);
    ASSERT_TRUE(
        service().Put(Info(*StorePath::FromDigestAndName(digest, absl::StrCat("n", i)))).ok());
  }
  auto all = ListAll(service());
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 600u);
  for (int i = 0; i < 600; ++i) EXPECT_EQ((*all)[i].store_path().name(), absl::StrCat("n", i));
}

TEST_P(PathInfoServiceConformance, ListStopsAtTheCallbacksError) {
  for (uint8_t i : {1, 2, 3}) ASSERT_TRUE(service().Put(Info(Path(i, "p"))).ok());
  int seen = 0;
  absl::Status s = service().List([&](const PathInfo&) {
    return ++seen == 2 ? absl::CancelledError("stop") : absl::OkStatus();
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kCancelled) << s;
  EXPECT_EQ(seen, 2);
}

TEST_P(PathInfoServiceConformance, ConcurrentPutsAndGets) {
  std::vector<std::thread> threads;
  std::vector<absl::Status> results(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        PathInfo info = Info(Path(static_cast<uint8_t>(t * 25 + i), absl::StrCat("t", t)));
        absl::Status s = service().Put(info).status();
        if (s.ok()) {
          auto got = service().Get(info.store_path().digest());
          s = !got.ok()                            ? got.status()
              : !got->has_value() || **got != info ? absl::InternalError("lost a put")
                                                   : absl::OkStatus();
        }
        if (!s.ok()) {
          results[t] = s;
          return;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  for (const absl::Status& s : results) EXPECT_TRUE(s.ok()) << s;
  auto all = ListAll(service());
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(all->size(), 100u);
}

}  // namespace castor::nix
