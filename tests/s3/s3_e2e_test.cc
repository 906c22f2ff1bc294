// End to end over s3:// on a real Ceph RGW, with real castor processes:
// import into the bucket, mount it from a second process with its own
// --cache and compare bytes; a chunk damaged or deleted by a plain S3 client
// is EIO for exactly that file; radosgw stopped gives EIO within the
// client's deadline (also when it hangs) and reads recover once it is back; two daemons on one
// bucket serve the same data, and killing one loses nothing.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "castore/digest.h"
#include "castore/testing/files.h"
#include "castore/testing/paths.h"
#include "castore/testing/rot.h"
#include "castore/testing/subprocess.h"
#include "castore/testing/temp_dir.h"
#include "gtest/gtest.h"
#include "s3/testing/ceph_cluster.h"
#include "s3store/layout.h"

namespace castor {
namespace {

using castore::B3Digest;
using castore::testing::Child;
using castore::testing::FuseMountGuard;
using castore::testing::RandomBytes;
using castore::testing::ReadAll;
using castore::testing::ReadResult;
using castore::testing::WriteFile;

using castore::testing::SlurpFile;
using castore::testing::WaitForFuseMount;
using std::chrono::seconds;

class S3E2eTest : public ::testing::Test {
 protected:
  void SetUp() override { Init(s3::testing::SharedS3Endpoint()); }

  void Init(absl::StatusOr<s3::testing::S3Endpoint> endpoint) {
    ASSERT_TRUE(endpoint.ok()) << endpoint.status();
    auto bucket = s3::testing::TestBucket::Create(*endpoint, "store");
    ASSERT_TRUE(bucket.ok()) << bucket.status();
    bucket_ = std::move(*bucket);
    auto client = bucket_->Client();
    ASSERT_TRUE(client.ok()) << client.status();
    plain_ = std::move(*client);
    // The castor processes find their credentials in the environment.
    ::setenv("AWS_ACCESS_KEY_ID", endpoint->credentials.access_key_id.c_str(), 1);
    ::setenv("AWS_SECRET_ACCESS_KEY", endpoint->credentials.secret_access_key.c_str(), 1);
    addr_ = bucket_->address();
    bin_ = castore::testing::CastorBinary();
    root_ = dir_.path();
    src_ = root_ + "/src";
    std::filesystem::create_directories(src_ + "/sub");
    WriteFile(src_ + "/a", "hello\n");
    WriteFile(src_ + "/sub/big1", RandomBytes(3 << 20, 1));
    WriteFile(src_ + "/sub/big2", RandomBytes(2 << 20, 2));
    WriteFile(src_ + "/sub/small", RandomBytes(1000, 3));
  }

  std::vector<std::string> Store(std::vector<std::string> args, const std::string& addr) {
    for (const char* flag :
         {"--blob-service-addr", "--directory-service-addr", "--root-service-addr"}) {
      args.push_back(flag);
      args.push_back(addr);
    }
    args.insert(args.begin(), bin_);
    return args;
  }

  void Import(const std::string& addr, const std::string& name = "t") {
    auto r =
        castore::testing::Run(Store({"import", "--name", name, src_}, addr), root_ + "/import");
    ASSERT_EQ(r.code, 0) << r.err;
  }

  // A mount of `addr` on a fresh directory with its own cache.
  // EXTRA: more flags for castor mount.
  std::string Mount(const std::string& addr, const std::string& tag,
                    std::vector<std::string> extra = {}) {
    const std::string mnt = root_ + "/mnt-" + tag;
    std::filesystem::create_directories(mnt);
    guards_.push_back(std::make_unique<FuseMountGuard>(mnt));
    std::vector<std::string> args = {"mount", "--cache", root_ + "/cache-" + tag, mnt};
    args.insert(args.end(), extra.begin(), extra.end());
    children_.push_back(Child::Spawn(Store(args, addr), root_ + "/mount-" + tag + ".log",
                                     root_ + "/mount-" + tag + ".log"));
    EXPECT_TRUE(WaitForFuseMount(mnt)) << SlurpFile(root_ + "/mount-" + tag + ".log");
    return mnt;
  }

  // A daemon on the bucket; returns its grpc+unix address.
  std::string Daemon(const std::string& tag, Child** child = nullptr) {
    const std::string sock = root_ + "/" + tag + ".sock";
    children_.push_back(Child::Spawn(Store({"daemon", "--listen", "unix://" + sock}, addr_),
                                     root_ + "/daemon-" + tag + ".log",
                                     root_ + "/daemon-" + tag + ".log"));
    if (child != nullptr) *child = &children_.back();
    auto until = std::chrono::steady_clock::now() + seconds(20);
    while (!std::filesystem::exists(sock) && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    EXPECT_TRUE(std::filesystem::exists(sock)) << SlurpFile(root_ + "/daemon-" + tag + ".log");
    return "grpc+unix://" + sock;
  }

  // The key of the chunk holding byte `offset` of source file `rel`.
  std::string ChunkKeyAt(const std::string& rel, uint64_t offset) {
    const std::string data = SlurpFile(src_ + "/" + rel);
    auto list = plain_->Get(s3store::DigestKey(s3store::kBlobsPrefix, B3Digest::Of(data)));
    EXPECT_TRUE(list.ok() && list->has_value());
    auto chunks = s3store::DecodeChunkList((*list)->data, "list");
    EXPECT_TRUE(chunks.ok());
    uint64_t at = 0;
    for (const auto& c : *chunks) {
      if (offset < at + c.size) return s3store::DigestKey(s3store::kChunksPrefix, c.digest);
      at += c.size;
    }
    ADD_FAILURE() << "offset past the end";
    return "";
  }

  void ExpectSameAsSource(const std::string& mnt, const std::string& rel) {
    ReadResult r = ReadAll(mnt + "/t/" + rel);
    EXPECT_EQ(r.error, 0) << rel;
    EXPECT_TRUE(r.data == SlurpFile(src_ + "/" + rel)) << rel << " differs";
  }

  castore::testing::TempDir dir_;
  std::unique_ptr<s3::testing::TestBucket> bucket_;
  std::unique_ptr<s3::S3Client> plain_;
  std::string addr_, bin_, root_, src_;
  std::vector<std::unique_ptr<FuseMountGuard>> guards_;
  std::deque<Child> children_;  // killed before the guards detach the mounts
};

TEST_F(S3E2eTest, ImportedTreeMountedByASecondProcessWithItsOwnCacheHasTheExactBytes) {
  Import(addr_);
  const std::string mnt = Mount(addr_, "one");
  for (const char* rel : {"a", "sub/big1", "sub/big2", "sub/small"}) ExpectSameAsSource(mnt, rel);
  // Re-importing stores nothing new.
  auto r = castore::testing::Run(Store({"import", "--json", "--force", "--name", "t", src_}, addr_),
                                 root_ + "/again");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("\"bytes_new\": 0,"), std::string::npos) << r.out;
}

TEST_F(S3E2eTest, ACacheBoundSmallerThanTheFilesServesExactBytesWhileEvictingAndEndsWithinIt) {
  Import(addr_);
  // 1 MiB of cache for files of 3 and 2 MiB (in 128-512 KiB chunks): big1
  // stays open, half read, while big2 and the small files churn through.
  const std::string mnt = Mount(addr_, "one", {"--cache-size", "1MiB"});
  const std::string big1 = SlurpFile(src_ + "/sub/big1");
  int fd = ::open((mnt + "/t/sub/big1").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  std::string got(big1.size(), '\0');
  const size_t half = big1.size() / 2;
  ASSERT_EQ(::pread(fd, got.data(), half, 0), static_cast<ssize_t>(half));
  for (const char* rel : {"sub/big2", "sub/small", "a"}) ExpectSameAsSource(mnt, rel);
  ASSERT_EQ(::pread(fd, got.data() + half, got.size() - half, half),
            static_cast<ssize_t>(got.size() - half));
  ::close(fd);
  EXPECT_TRUE(got == big1);
  for (const char* rel : {"sub/big1", "sub/big2"}) ExpectSameAsSource(mnt, rel);
  // Unmounted, the cache's file data is within the bound.
  children_.back().Signal(SIGTERM);
  EXPECT_EQ(children_.back().Wait(), 0) << SlurpFile(root_ + "/mount-one.log");
  uint64_t bytes = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(root_ + "/cache-one/blobs")) {
    if (e.is_regular_file()) bytes += e.file_size();
  }
  EXPECT_LE(bytes, uint64_t{1} << 20);
  EXPECT_GT(bytes, 0u);
}

TEST_F(S3E2eTest, AStorePathImportedIntoTheBucketIsSeenByAnotherProcessWithItsPathInfo) {
  Import(addr_);
  // A NAR of the tree, rendered from the bucket, becomes a store path there.
  auto dump = castore::testing::Run(Store({"nix", "dump", "t"}, addr_), root_ + "/dump");
  ASSERT_EQ(dump.code, 0) << dump.err;
  WriteFile(root_ + "/t.nar", dump.out);
  const std::string path = "/nix/store/00000000000000000000000000000000-tree";
  auto with_path_infos = [&](std::vector<std::string> args) {
    args = Store(std::move(args), addr_);
    args.push_back("--path-info-service-addr");
    args.push_back(addr_);
    return args;
  };
  auto imported = castore::testing::Run(
      with_path_infos({"nix", "import-nar", root_ + "/t.nar", "--store-path", path}),
      root_ + "/import-nar");
  ASSERT_EQ(imported.code, 0) << imported.err;
  // Another process reads the path info and renders the same NAR.
  auto info = castore::testing::Run(with_path_infos({"nix", "path-info", "--json", path}),
                                    root_ + "/path-info");
  ASSERT_EQ(info.code, 0) << info.err;
  EXPECT_NE(info.out.find(path), std::string::npos) << info.out;
  EXPECT_NE(info.out.find(std::to_string(dump.out.size())), std::string::npos) << info.out;
  auto again = castore::testing::Run(with_path_infos({"nix", "dump", path}), root_ + "/dump2");
  ASSERT_EQ(again.code, 0) << again.err;
  EXPECT_TRUE(again.out == dump.out);
  // The path info is one object in the bucket.
  int objects = 0;
  ASSERT_TRUE(plain_
                  ->ForEach(s3store::kPathInfosPrefix,
                            [&](const s3::ObjectEntry&) {
                              ++objects;
                              return absl::OkStatus();
                            })
                  .ok());
  EXPECT_EQ(objects, 1);
}

TEST_F(S3E2eTest, AChunkDamagedOrDeletedInTheBucketIsEioForThatFileAndTheRestIsServed) {
  Import(addr_);
  const std::string damaged = ChunkKeyAt("sub/big1", 1 << 20);
  const std::string deleted = ChunkKeyAt("sub/big2", 0);
  ASSERT_TRUE(plain_->Put(damaged, s3store::Compress(RandomBytes(300000, 9))).ok());
  ASSERT_TRUE(plain_->Delete(deleted).ok());
  const std::string mnt = Mount(addr_, "one");
  EXPECT_EQ(ReadAll(mnt + "/t/sub/big1").error, EIO);
  EXPECT_EQ(ReadAll(mnt + "/t/sub/big2").error, EIO);
  for (const char* rel : {"a", "sub/small"}) ExpectSameAsSource(mnt, rel);
  // The bytes of big1 before the damaged chunk are still served.
  int fd = ::open((mnt + "/t/sub/big1").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  std::string head(4096, '\0');
  EXPECT_EQ(::pread(fd, head.data(), head.size(), 0), 4096);
  ::close(fd);
  EXPECT_EQ(head, RandomBytes(3 << 20, 1).substr(0, 4096));
}

TEST_F(S3E2eTest, TwoDaemonsOnOneBucketServeTheSameDataAndKillingOneLosesNothing) {
  Child* first = nullptr;
  const std::string d1 = Daemon("d1", &first);
  const std::string d2 = Daemon("d2");
  Import(d1);  // through a daemon
  const std::string m2 = Mount(d2, "via-d2");
  ExpectSameAsSource(m2, "sub/big1");
  first->Kill();
  for (const char* rel : {"a", "sub/big2", "sub/small"}) ExpectSameAsSource(m2, rel);
  // And a fresh client of the bucket itself sees all of it too.
  const std::string direct = Mount(addr_, "direct");
  for (const char* rel : {"a", "sub/big1", "sub/big2", "sub/small"}) {
    ExpectSameAsSource(direct, rel);
  }
}

// A private cluster: this test stops radosgw.
class S3E2eFaultTest : public S3E2eTest {
 protected:
  void SetUp() override {
    auto cluster = s3::testing::CephCluster::Start();
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = std::move(*cluster);
    Init(cluster_->endpoint());
  }
  std::unique_ptr<s3::testing::CephCluster> cluster_;
};

TEST_F(S3E2eFaultTest, StoppedRadosgwIsEioWithinTheDeadlineAndReadsRecoverWhenItReturns) {
  Import(addr_);
  const std::string mnt = Mount(addr_, "one");
  ASSERT_EQ(ReadAll(mnt + "/t/a").error, 0);
  ASSERT_TRUE(cluster_->StopRgw().ok());
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(ReadAll(mnt + "/t/sub/big1").error, EIO);
  // The store's client gives up after its 15 s retry budget plus one
  // attempt: well within a minute, never a hang.
  EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(60));
  ASSERT_TRUE(cluster_->StartRgw().ok());
  ReadResult r = ReadAll(mnt + "/t/sub/big1");
  EXPECT_EQ(r.error, 0);
  EXPECT_TRUE(r.data == RandomBytes(3 << 20, 1));
  // A radosgw that accepts connections but never answers (SIGSTOP): the
  // idle timeout and the retry budget bound the read too.
  ASSERT_TRUE(cluster_->PauseRgw().ok());
  const auto paused = std::chrono::steady_clock::now();
  EXPECT_EQ(ReadAll(mnt + "/t/sub/big2").error, EIO);
  EXPECT_LT(std::chrono::steady_clock::now() - paused, seconds(90));
  ASSERT_TRUE(cluster_->ResumeRgw().ok());
  r = ReadAll(mnt + "/t/sub/big2");
  EXPECT_EQ(r.error, 0);
  EXPECT_TRUE(r.data == RandomBytes(2 << 20, 2));
}

}  // namespace
}  // namespace castor
