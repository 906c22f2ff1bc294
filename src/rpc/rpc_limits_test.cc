// Message size limits of the daemon, seen from a raw client that is willing
// to send anything: a Directory or a BlobChunk message larger than
// kMaxMessageSize (64 MiB) is refused with RESOURCE_EXHAUSTED before any
// handler sees it, one just below the limit is accepted, and the daemon
// keeps serving afterwards; a Put stream of more Directories in total than
// the daemon keeps for one Put is refused the same way and stores nothing.
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "base/status.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "gtest/gtest.h"
#include "rpc/testing.h"
#include "tvix/castore/protos/rpc_blobstore.grpc.pb.h"
#include "tvix/castore/protos/rpc_directory.grpc.pb.h"

namespace castor::rpc {
namespace {

namespace pb = ::tvix::castore::v1;
using testing::LocalDaemon;

// A channel with no send limit (and the receive limit of ours).
std::shared_ptr<grpc::Channel> RawChannel(const LocalDaemon& daemon) {
  grpc::ChannelArguments args;
  args.SetMaxSendMessageSize(-1);
  args.SetMaxReceiveMessageSize(kMaxMessageSize);
  return grpc::CreateCustomChannel("unix://" + daemon.socket(), grpc::InsecureChannelCredentials(),
                                   args);
}

// A valid Directory of about `bytes` encoded bytes: symlinks with long
// targets, names sorted.
pb::Directory BigDirectory(size_t bytes) {
  pb::Directory d;
  const std::string target(4000, 't');
  size_t n = bytes / (target.size() + 16) + 1;
  for (size_t i = 0; i < n; ++i) {
    char name[16];
    std::snprintf(name, sizeof(name), "l%08zu", i);
    auto* l = d.add_symlinks();
    l->set_name(name);
    l->set_target(target);
  }
  return d;
}

grpc::Status PutDirectory(pb::DirectoryService::Stub& stub, const pb::Directory& d) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  pb::PutDirectoryResponse resp;
  auto writer = stub.Put(&ctx, &resp);
  writer->Write(d);
  writer->WritesDone();
  return writer->Finish();
}

grpc::Status PutBlobChunk(pb::BlobService::Stub& stub, const std::string& data) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  pb::PutBlobResponse resp;
  auto writer = stub.Put(&ctx, &resp);
  pb::BlobChunk chunk;
  chunk.set_data(data);
  writer->Write(chunk);
  writer->WritesDone();
  return writer->Finish();
}

TEST(RpcLimits, OversizedDirectoryIsResourceExhaustedAndTheDaemonServesOn) {
  LocalDaemon daemon;
  auto stub = pb::DirectoryService::NewStub(RawChannel(daemon));
  pb::Directory big = BigDirectory(size_t{kMaxMessageSize} + (1 << 20));
  ASSERT_GT(big.ByteSizeLong(), static_cast<size_t>(kMaxMessageSize));
  grpc::Status s = PutDirectory(*stub, big);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  big.Clear();

  // Just below the limit: accepted and stored.
  pb::Directory fits = BigDirectory(size_t{kMaxMessageSize} - (1 << 20));
  ASSERT_LT(fits.ByteSizeLong(), static_cast<size_t>(kMaxMessageSize));
  s = PutDirectory(*stub, fits);
  EXPECT_TRUE(s.ok()) << s.error_message();

  // Still serving, through the normal clients too.
  s = PutDirectory(*stub, pb::Directory());
  EXPECT_TRUE(s.ok()) << s.error_message();
  auto clients = daemon.Clients();
  auto digest = castore::PutBlob(*clients.blobs, "after");
  ASSERT_TRUE(digest.ok()) << digest.status();
}

TEST(RpcLimits, OversizedBlobChunkIsResourceExhaustedAndTheDaemonServesOn) {
  LocalDaemon daemon;
  auto stub = pb::BlobService::NewStub(RawChannel(daemon));
  grpc::Status s = PutBlobChunk(*stub, std::string(size_t{kMaxMessageSize} + 1024, 'b'));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  // Nothing was stored, and a normal Put works.
  auto clients = daemon.Clients();
  auto has = clients.blobs->Has(
      castore::B3Digest::Of(std::string_view(std::string(size_t{kMaxMessageSize} + 1024, 'b'))));
  ASSERT_TRUE(has.ok()) << has.status();
  EXPECT_FALSE(*has);
  s = PutBlobChunk(*stub, "small");
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(*clients.blobs->Has(castore::B3Digest::Of(std::string_view("small"))));
}

// A Put stream through the client: `count` leaves of about `each` bytes
// (distinct), then a root that refers to all of them. Returns what Close
// (or the first failing Put) says; `first` is the first leaf's digest.
absl::StatusOr<castore::B3Digest> PutClosure(castore::DirectoryService& dirs, int count,
                                             size_t each, castore::B3Digest* first) {
  ASSIGN_OR_RETURN(auto putter, dirs.OpenPutter());
  std::vector<castore::Entry> children;
  for (int i = 0; i < count; ++i) {
    pb::Directory leaf = BigDirectory(each);
    auto* mark = leaf.add_symlinks();  // after the "l..." names: still sorted
    mark->set_name("z");
    mark->set_target(std::to_string(i));
    ASSIGN_OR_RETURN(castore::Directory d, castore::Directory::FromProto(leaf));
    if (i == 0) *first = d.digest();
    char name[16];
    std::snprintf(name, sizeof(name), "d%06d", i);
    children.push_back(
        {*castore::PathComponent::Create(name), castore::DirectoryNode{d.digest(), d.size()}});
    RETURN_IF_ERROR(putter->Put(d));
  }
  ASSIGN_OR_RETURN(castore::Directory root, castore::Directory::Create(std::move(children)));
  RETURN_IF_ERROR(putter->Put(root));
  return putter->Close();
}

TEST(RpcLimits, DirectoryPutStreamPastTheDefaultBoundIsResourceExhaustedAndStoresNothing) {
  LocalDaemon daemon;
  auto clients = daemon.Clients();
  castore::B3Digest first;
  // 70 Directories of 4 MiB: 280 MiB, past the 256 MiB a daemon keeps for one Put.
  auto root = PutClosure(*clients.directories, 70, 4 << 20, &first);
  ASSERT_FALSE(root.ok());
  EXPECT_EQ(root.status().code(), absl::StatusCode::kResourceExhausted) << root.status();
  EXPECT_TRUE(absl::StrContains(root.status().message(), "--max-directory-put-bytes"))
      << root.status();
  auto got = daemon.backing().directories->Get(first);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_FALSE(got->has_value());
}

TEST(RpcLimits, DirectoryPutBoundIsConfigurableAndAStreamWithinItIsStored) {
  DaemonOptions options;
  options.handlers.max_directory_put_bytes = 1 << 20;
  LocalDaemon daemon({std::make_shared<castore::MemoryBlobService>(),
                      std::make_shared<castore::MemoryDirectoryService>(),
                      std::make_shared<castore::MemoryRootService>()},
                     options);
  auto clients = daemon.Clients();
  castore::B3Digest first;
  auto refused = PutClosure(*clients.directories, 3, 400 << 10, &first);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted) << refused.status();
  EXPECT_FALSE(daemon.backing().directories->Get(first)->has_value());
  auto stored = PutClosure(*clients.directories, 2, 400 << 10, &first);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_TRUE(daemon.backing().directories->Get(*stored)->has_value());
  EXPECT_TRUE(daemon.backing().directories->Get(first)->has_value());
}

// Our own clients refuse to send what the daemon would refuse anyway.
TEST(RpcLimits, ClientRefusesToSendAnOversizedMessage) {
  LocalDaemon daemon;
  auto stub = pb::BlobService::NewStub(daemon.channel());
  grpc::Status s = PutBlobChunk(*stub, std::string(size_t{kMaxMessageSize} + 1024, 'c'));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
}

}  // namespace
}  // namespace castor::rpc
