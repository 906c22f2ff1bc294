// Message size limits of the daemon, seen from a raw client that is willing
// to send anything: a Directory or a BlobChunk message larger than
// kMaxMessageSize (64 MiB) is refused with RESOURCE_EXHAUSTED before any
// handler sees it, one just below the limit is accepted, and the daemon
// keeps serving afterwards.
#include <string>

#include "gtest/gtest.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
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
  return grpc::CreateCustomChannel("unix://" + daemon.socket(),
                                   grpc::InsecureChannelCredentials(), args);
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

// Our own clients refuse to send what the daemon would refuse anyway.
TEST(RpcLimits, ClientRefusesToSendAnOversizedMessage) {
  LocalDaemon daemon;
  auto stub = pb::BlobService::NewStub(daemon.channel());
  grpc::Status s = PutBlobChunk(*stub, std::string(size_t{kMaxMessageSize} + 1024, 'c'));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
}

}  // namespace
}  // namespace castor::rpc
