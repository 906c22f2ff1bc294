// S3DirectoryService and S3RootService against a real Ceph RGW (the shared
// test cluster): the conformance suites, closures that become visible only
// whole, concurrent writers of one root, damaged objects.
#include "s3store/s3_metadata_services.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "absl/strings/str_cat.h"
#include "castore/directory/directory_service_conformance.h"
#include "castore/roots/root_service_conformance.h"
#include "nix/pathinfo/path_info_service_conformance.h"
#include "s3/testing/ceph_cluster.h"
#include "s3store/layout.h"
#include "s3store/s3_path_info_service.h"

namespace castor::s3store {
namespace {

using castore::B3Digest;
using castore::Directory;
using castore::Entry;
using castore::PathComponent;
using s3::testing::TestBucket;

std::unique_ptr<TestBucket> NewBucket() {
  auto endpoint = s3::testing::SharedS3Endpoint();
  if (!endpoint.ok()) ADD_FAILURE() << endpoint.status();
  if (!endpoint.ok()) return nullptr;
  auto bucket = TestBucket::Create(*endpoint, "store");
  if (!bucket.ok()) ADD_FAILURE() << bucket.status();
  if (!bucket.ok()) return nullptr;
  return *std::move(bucket);
}

std::shared_ptr<s3::S3Client> Client(const TestBucket& bucket) {
  auto client = bucket.Client();
  if (!client.ok()) ADD_FAILURE() << client.status();
  if (!client.ok()) return nullptr;
  return std::shared_ptr<s3::S3Client>(*std::move(client));
}

// A service that keeps its bucket as long as it lives.
template <typename Service, typename Interface>
std::shared_ptr<Interface> Make() {
  std::shared_ptr<TestBucket> bucket = NewBucket();
  if (bucket == nullptr) return nullptr;
  auto client = Client(*bucket);
  if (client == nullptr) return nullptr;
  struct Holder {
    std::shared_ptr<TestBucket> bucket;
    Service service;
  };
  auto holder = std::make_shared<Holder>(Holder{bucket, Service(client)});
  return std::shared_ptr<Interface>(holder, &holder->service);
}

}  // namespace
}  // namespace castor::s3store

namespace castor::castore {
INSTANTIATE_TEST_SUITE_P(
    S3, DirectoryServiceConformance,
    ::testing::Values(DirectoryBackend{
        "s3", s3store::Make<s3store::S3DirectoryService, castore::DirectoryService>}),
    BackendName);
INSTANTIATE_TEST_SUITE_P(S3, RootServiceConformance,
                         ::testing::Values(RootBackend{
                             "s3", s3store::Make<s3store::S3RootService, castore::RootService>}),
                         BackendName);
}  // namespace castor::castore

namespace castor::nix {
INSTANTIATE_TEST_SUITE_P(S3, PathInfoServiceConformance,
                         ::testing::Values(PathInfoBackend{
                             "s3", s3store::Make<s3store::S3PathInfoService, PathInfoService>}),
                         castore::BackendName);
}  // namespace castor::nix

namespace castor::s3store {
namespace {

PathComponent Name(std::string_view n) { return *PathComponent::Create(n); }

class S3MetadataTest : public ::testing::Test {
 protected:
  void SetUp() override {
    bucket_ = NewBucket();
    ASSERT_NE(bucket_, nullptr);
    client_ = Client(*bucket_);
    ASSERT_NE(client_, nullptr);
  }
  std::unique_ptr<TestBucket> bucket_;
  std::shared_ptr<s3::S3Client> client_;
};

// A chain of `depth` Directories, each holding the one below and a file.
std::vector<Directory> Chain(int depth, const std::string& tag) {
  std::vector<Directory> out;
  for (int i = 0; i < depth; ++i) {
    std::vector<Entry> entries;
    entries.push_back({Name(absl::StrCat("f", i)),
                       castore::FileNode{B3Digest::Of(absl::StrCat(tag, i)), 1, false}});
    if (!out.empty()) {
      entries.push_back(
          {Name("sub"), castore::DirectoryNode{out.back().digest(), out.back().size()}});
    }
    out.push_back(*Directory::Create(std::move(entries)));
  }
  return out;
}

TEST_F(S3MetadataTest, AClosureRootIsVisibleOnlyOnceAllItRefersToIsReadable) {
  S3DirectoryService writer(client_);
  S3DirectoryService reader(Client(*bucket_));
  const std::vector<Directory> chain = Chain(60, "x");
  const B3Digest root = chain.back().digest();
  std::atomic<bool> done{false};
  std::atomic<int> seen_whole{0}, seen_torn{0};
  std::thread watcher([&] {
    while (!done) {
      auto got = reader.Get(root);
      if (!got.ok() || !got->has_value()) continue;
      int n = 0;
      absl::Status walk = reader.GetRecursive(root, [&](const Directory&) {
        ++n;
        return absl::OkStatus();
      });
      (walk.ok() && n == 60 ? seen_whole : seen_torn)++;
      return;
    }
  });
  auto putter = writer.OpenPutter();
  ASSERT_TRUE(putter.ok());
  for (const Directory& d : chain) ASSERT_TRUE((*putter)->Put(d).ok());
  auto closed = (*putter)->Close();
  ASSERT_TRUE(closed.ok()) << closed.status();
  EXPECT_EQ(*closed, root);
  // Give the watcher a last look after Close.
  while (seen_whole + seen_torn == 0) std::this_thread::yield();
  done = true;
  watcher.join();
  EXPECT_EQ(seen_torn.load(), 0);
  EXPECT_EQ(seen_whole.load(), 1);
}

TEST_F(S3MetadataTest, ADamagedDirectoryObjectIsDataLossNamingIt) {
  S3DirectoryService dirs(client_);
  const std::vector<Directory> chain = Chain(2, "y");
  auto putter = dirs.OpenPutter();
  for (const Directory& d : chain) ASSERT_TRUE((*putter)->Put(d).ok());
  ASSERT_TRUE((*putter)->Close().ok());
  const B3Digest victim = chain[0].digest();
  ASSERT_TRUE(client_->Put(DigestKey(kDirectoriesPrefix, victim), chain[1].Encode()).ok());
  auto got = dirs.Get(victim);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(got.status().message().find(victim.ToB3()), std::string_view::npos) << got.status();
  // The closure above it fails too, rather than serving a wrong tree.
  absl::Status walk =
      dirs.GetRecursive(chain[1].digest(), [](const Directory&) { return absl::OkStatus(); });
  EXPECT_FALSE(walk.ok());
}

TEST_F(S3MetadataTest, ConcurrentWritersOfOneRootFromSeparateClientsLeaveOneWholeEntry) {
  constexpr int kWriters = 8;
  std::vector<Entry> entries;
  for (int i = 0; i < kWriters; ++i) {
    entries.push_back({Name("shared"), castore::FileNode{B3Digest::Of(absl::StrCat("v", i)),
                                                         static_cast<uint64_t>(i), false}});
  }
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int round = 0; round < 5; ++round) {
    for (int i = 0; i < kWriters; ++i) {
      threads.emplace_back([&, i] {
        S3RootService roots(Client(*bucket_));  // its own client: another machine
        if (!roots.Put(entries[i]).ok()) ++failures;
      });
    }
    for (auto& t : threads) t.join();
    threads.clear();
    S3RootService roots(client_);
    auto got = roots.Get(Name("shared"));
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_TRUE(got->has_value());
    EXPECT_NE(std::find(entries.begin(), entries.end(), **got), entries.end());
  }
  EXPECT_EQ(failures.load(), 0);
}

TEST_F(S3MetadataTest, ReadersOfARootThatIsBeingReplacedAlwaysFindAWholeEntry) {
  S3RootService roots(client_);
  auto entry = [](int i) {
    return Entry{Name("busy"), castore::FileNode{B3Digest::Of(absl::StrCat("w", i)),
                                                 static_cast<uint64_t>(i), false}};
  };
  ASSERT_TRUE(roots.Put(entry(0)).ok());
  std::atomic<bool> stop{false};
  std::atomic<int> missing{0}, wrong{0}, reads{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < 3; ++w) {
    threads.emplace_back([&, w] {
      S3RootService mine(Client(*bucket_));
      for (int i = 0; i < 40; ++i) EXPECT_TRUE(mine.Put(entry(w * 100 + i)).ok());
    });
  }
  for (int r = 0; r < 3; ++r) {
    threads.emplace_back([&] {
      S3RootService mine(Client(*bucket_));
      while (!stop) {
        auto got = mine.Get(Name("busy"));
        ++reads;
        if (!got.ok()) {
          ++wrong;
        } else if (!got->has_value()) {
          ++missing;
        }
      }
    });
  }
  for (int w = 0; w < 3; ++w) threads[w].join();
  stop = true;
  for (size_t i = 3; i < threads.size(); ++i) threads[i].join();
  EXPECT_GT(reads.load(), 0);
  EXPECT_EQ(missing.load(), 0);
  EXPECT_EQ(wrong.load(), 0);
}

TEST_F(S3MetadataTest, RootsWithAnyNameListInByteOrderAndForeignObjectsAreLeftAlone) {
  S3RootService roots(client_);
  std::vector<std::string> names{"b", "A-1", "a b", "z%y", "\xc3\xa9t\xc3\xa9", "Z"};
  for (const std::string& n : names) {
    ASSERT_TRUE(roots.Put({Name(n), castore::FileNode{B3Digest::Of(n), 1, false}}).ok());
  }
  ASSERT_TRUE(client_->Put(std::string(kRootsPrefix) + "not%zzvalid", "x").ok());
  std::vector<std::string> listed;
  ASSERT_TRUE(roots
                  .List([&](const Entry& e) {
                    listed.push_back(e.name.str());
                    return absl::OkStatus();
                  })
                  .ok());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(listed, names);
}

TEST(S3PathInfoTest, AnObjectThatIsNotThePathInfoItsKeyNamesIsDataLossAndForeignKeysAreSkipped) {
  std::shared_ptr<TestBucket> bucket = NewBucket();
  ASSERT_NE(bucket, nullptr);
  auto client = Client(*bucket);
  ASSERT_NE(client, nullptr);
  S3PathInfoService service(client);
  auto path = [](char fill, std::string_view name) {
    return *nix::StorePath::FromDigestAndName(std::string(nix::StorePath::kDigestSize, fill), name);
  };
  auto info = [](const nix::StorePath& p) {
    return *nix::PathInfo::Create({
        .store_path = p,
        .node = castore::FileNode{B3Digest::Of("contents"), 8, false},
        .nar_size = 120,
        .nar_sha256 = nix::NixHash::Of(nix::HashAlgo::kSha256, p.BaseName()),
    });
  };
  const nix::StorePath a = path('\x00', "a"), b = path('\x02', "b");
  ASSERT_TRUE(service.Put(info(a)).ok());
  ASSERT_TRUE(service.Put(info(b)).ok());
  // Keys are the digests in hex.
  const std::string key_a = std::string(kPathInfosPrefix) + std::string(40, '0');
  const std::string key_b =
      std::string(kPathInfosPrefix) + "0202020202020202020202020202020202020202";
  // b's path info under a's key: DataLoss naming the key, not b served as a.
  auto b_object = client->Get(key_b);
  ASSERT_TRUE(b_object.ok() && b_object->has_value());
  ASSERT_TRUE(client->Put(key_a, (*b_object)->data).ok());
  auto got = service.Get(a.digest());
  EXPECT_EQ(got.status().code(), absl::StatusCode::kDataLoss) << got.status();
  EXPECT_NE(got.status().message().find(key_a), std::string::npos) << got.status();
  ASSERT_TRUE(client->Put(key_a, "not a protobuf \xff\xff").ok());
  EXPECT_EQ(service.Get(a.digest()).status().code(), absl::StatusCode::kDataLoss);
  // Objects under the prefix that name no path info are left out of List.
  ASSERT_TRUE(client->Delete(key_a).ok());
  ASSERT_TRUE(client->Put(std::string(kPathInfosPrefix) + "README", "x").ok());
  std::vector<std::string> listed;
  ASSERT_TRUE(service
                  .List([&](const nix::PathInfo& i) {
                    listed.push_back(i.store_path().BaseName());
                    return absl::OkStatus();
                  })
                  .ok());
  EXPECT_EQ(listed, std::vector<std::string>{b.BaseName()});
}

}  // namespace
}  // namespace castor::s3store
