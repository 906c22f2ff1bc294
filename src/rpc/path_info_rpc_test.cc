// The Nix PathInfoService over gRPC: the conformance suite against the
// verifying client and the daemon's handlers, then what only the wire
// brings: the closure check of Put, the root a Put creates, the snix
// package name, CalculateNAR, and a client that refuses what a lying server
// sends.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "castore/roots/memory_root_service.h"
#include "grpcpp/server_builder.h"
#include "nix/castore_nar.h"
#include "nix/nar_writer.h"
#include "nix/pathinfo/composition.h"
#include "nix/pathinfo/memory_path_info_service.h"
#include "nix/pathinfo/path_info_service_conformance.h"
#include "rpc/grpc_path_info_service.h"
#include "rpc/path_info_handlers.h"
#include "rpc/testing.h"
#include "snix/store/protos/rpc_pathinfo.grpc.pb.h"
#include "tvix/castore/protos/castore.pb.h"

namespace castor::rpc {
namespace {

using testing::LocalDaemon;

// A daemon over memory services serving path infos, and its store.
struct NixDaemon {
  explicit NixDaemon(bool check_closure = true) {
    castore::Services services{std::make_shared<castore::MemoryBlobService>(),
                               std::make_shared<castore::MemoryDirectoryService>(),
                               std::make_shared<castore::MemoryRootService>()};
    store =
        std::make_shared<nix::NixStore>(services, std::make_shared<nix::MemoryPathInfoService>());
    DaemonOptions options;
    options.handlers.check_root_referents = check_closure;
    options.add_services = [s = store, check_closure](CastoreHandlers& h) {
      AddPathInfoHandlers(h, s, check_closure);
    };
    daemon = std::make_unique<LocalDaemon>(services, options);
    client = std::make_shared<GrpcPathInfoService>(daemon->channel(), daemon->address());
  }
  std::shared_ptr<nix::NixStore> store;
  std::unique_ptr<LocalDaemon> daemon;
  std::shared_ptr<GrpcPathInfoService> client;
};

std::shared_ptr<nix::PathInfoService> ServeConformance() {
  auto d = std::make_shared<NixDaemon>(/*check_closure=*/false);
  nix::PathInfoService* raw = d->client.get();
  return std::shared_ptr<nix::PathInfoService>(std::move(d), raw);
}

}  // namespace
}  // namespace castor::rpc

namespace castor::nix {
INSTANTIATE_TEST_SUITE_P(Grpc, PathInfoServiceConformance,
                         ::testing::Values(PathInfoBackend{"grpc_memory", rpc::ServeConformance}),
                         castore::BackendName);
}  // namespace castor::nix

namespace castor::rpc {
namespace {

constexpr std::string_view kHello = "5klkkbyyd681lz12kb5jgyvjv3rjgq0n-hello";

// A path info whose node is a stored directory holding one file.
nix::PathInfo StoredPath(nix::NixStore& store) {
  auto blob = castore::PutBlob(store.blobs(), "hello\n");
  CASTOR_CHECK(blob.ok());
  auto dir = castore::Directory::Create(
      {{*castore::PathComponent::Create("greeting"), castore::FileNode{*blob, 6, false}}});
  CASTOR_CHECK(dir.ok());
  CASTOR_CHECK(store.directories().Put(*dir).ok());
  castore::Node node = castore::DirectoryNode{dir->digest(), dir->size()};
  auto nar = nix::CalculateNar(store.blobs(), store.directories(), node);
  CASTOR_CHECK(nar.ok());
  return *nix::PathInfo::Create({
      .store_path = *nix::StorePath::FromBaseName(kHello),
      .node = node,
      .nar_size = nar->nar_size,
      .nar_sha256 = nar->nar_sha256,
  });
}

TEST(PathInfoRpc, PutOfAStoredPathMakesARootAndGetReturnsIt) {
  NixDaemon d;
  nix::PathInfo info = StoredPath(*d.store);
  auto put = d.client->Put(info);
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_TRUE(*put == info);
  auto root = d.store->services().roots->Get(*castore::PathComponent::Create(kHello));
  ASSERT_TRUE(root.ok() && root->has_value()) << root.status();
  EXPECT_EQ((*root)->node, info.node());
  auto got = d.client->Get(info.store_path().digest());
  ASSERT_TRUE(got.ok() && got->has_value()) << got.status();
  EXPECT_TRUE(**got == info);
}

TEST(PathInfoRpc, PutWhoseContentsAreNotStoredIsFailedPrecondition) {
  NixDaemon d;
  nix::PathInfo info = StoredPath(*d.store);
  nix::PathInfo::Fields f = info.fields();
  f.node = castore::FileNode{castore::B3Digest::Of("not stored"), 10, false};
  auto put = d.client->Put(*nix::PathInfo::Create(f));
  EXPECT_EQ(put.status().code(), absl::StatusCode::kFailedPrecondition) << put.status();
  EXPECT_NE(put.status().message().find(ToAbslView(kHello)), std::string::npos) << put.status();
  auto got = d.store->path_infos().Get(info.store_path().digest());
  ASSERT_TRUE(got.ok());
  EXPECT_FALSE(got->has_value());
}

TEST(PathInfoRpc, InvalidPathInfoIsInvalidArgument) {
  NixDaemon d;
  auto stub = ::tvix::store::v1::PathInfoService::NewStub(d.daemon->channel());
  ::tvix::store::v1::PathInfo bad = StoredPath(*d.store).ToProto();
  bad.add_references("short");  // not 20 bytes
  grpc::ClientContext ctx;
  ::tvix::store::v1::PathInfo resp;
  grpc::Status s = stub->Put(&ctx, bad, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
}

TEST(PathInfoRpc, ServedUnderTheSnixNameToo) {
  NixDaemon d;
  nix::PathInfo info = StoredPath(*d.store);
  ASSERT_TRUE(d.store->Add(info).ok());
  auto stub = ::snix::store::v1::PathInfoService::NewStub(d.daemon->channel());
  grpc::ClientContext ctx;
  ::snix::store::v1::GetPathInfoRequest req;
  req.set_by_output_hash(std::string(info.store_path().digest_bytes()));
  ::snix::store::v1::PathInfo resp;
  grpc::Status s = stub->Get(&ctx, req, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.SerializeAsString(), info.ToProto().SerializeAsString());
}

TEST(PathInfoRpc, CalculateNarMatchesTheRender) {
  NixDaemon d;
  nix::PathInfo info = StoredPath(*d.store);
  auto nar = d.client->CalculateNar({nix::RootName(info.store_path()), info.node()});
  ASSERT_TRUE(nar.ok()) << nar.status();
  EXPECT_EQ(nar->nar_size, info.nar_size());
  EXPECT_EQ(nar->nar_sha256, info.nar_sha256());
  auto missing =
      d.client->CalculateNar({*castore::PathComponent::Create("x"),
                              castore::FileNode{castore::B3Digest::Of("absent"), 6, false}});
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound) << missing.status();
}

TEST(PathInfoRpc, OpenedFromItsAddress) {
  NixDaemon d;
  RegisterGrpcPathInfoSchemes();
  auto client = nix::OpenPathInfoService(d.daemon->address());
  ASSERT_TRUE(client.ok()) << client.status();
  nix::PathInfo info = StoredPath(*d.store);
  ASSERT_TRUE((*client)->Put(info).ok());
  auto got = d.store->Get(info.store_path());
  ASSERT_TRUE(got.ok() && got->has_value());
}

// A server that answers every Get with a fixed PathInfo.
class LyingServer final : public ::tvix::store::v1::PathInfoService::Service {
 public:
  explicit LyingServer(::tvix::store::v1::PathInfo answer) : answer_(std::move(answer)) {}
  grpc::Status Get(grpc::ServerContext*, const ::tvix::store::v1::GetPathInfoRequest*,
                   ::tvix::store::v1::PathInfo* resp) override {
    *resp = answer_;
    return grpc::Status::OK;
  }
  grpc::Status List(grpc::ServerContext*, const ::tvix::store::v1::ListPathInfoRequest*,
                    grpc::ServerWriter<::tvix::store::v1::PathInfo>* writer) override {
    writer->Write(answer_);
    return grpc::Status::OK;
  }

 private:
  ::tvix::store::v1::PathInfo answer_;
};

absl::StatusOr<std::optional<nix::PathInfo>> AskLiar(const ::tvix::store::v1::PathInfo& answer,
                                                     const nix::StorePath& asked,
                                                     absl::Status* listed) {
  castore::testing::TempDir dir("liar");
  LyingServer service(answer);
  grpc::ServerBuilder builder;
  std::string socket = dir.path() + "/liar.sock";
  builder.AddListeningPort("unix://" + socket, grpc::InsecureServerCredentials());
  builder.RegisterService(&service);
  auto server = builder.BuildAndStart();
  CASTOR_CHECK(server != nullptr);
  auto addr = castore::ServiceAddress::Parse("grpc+unix://" + socket);
  GrpcPathInfoService client(*OpenChannel(*addr), addr->original);
  auto got = client.Get(asked.digest());
  *listed = client.List([](const nix::PathInfo&) { return absl::OkStatus(); });
  server->Shutdown();
  return got;
}

TEST(PathInfoRpc, ClientRefusesAnInvalidOrUnaskedPathInfo) {
  nix::NixStore store({std::make_shared<castore::MemoryBlobService>(),
                       std::make_shared<castore::MemoryDirectoryService>(),
                       std::make_shared<castore::MemoryRootService>()},
                      std::make_shared<nix::MemoryPathInfoService>());
  nix::PathInfo info = StoredPath(store);
  absl::Status listed;
  // Another path's info.
  auto other = nix::StorePath::FromBaseName("00000000000000000000000000000000-other");
  auto got = AskLiar(info.ToProto(), *other, &listed);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kDataLoss) << got.status();
  EXPECT_NE(got.status().message().find("instead"), std::string::npos) << got.status();
  EXPECT_TRUE(listed.ok()) << listed;
  // A path info Nix would refuse: NAR size 0.
  ::tvix::store::v1::PathInfo bad = info.ToProto();
  bad.mutable_narinfo()->set_nar_size(0);
  got = AskLiar(bad, info.store_path(), &listed);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kDataLoss) << got.status();
  EXPECT_NE(got.status().message().find("invalid path info"), std::string::npos) << got.status();
  EXPECT_EQ(listed.code(), absl::StatusCode::kDataLoss) << listed;
}

}  // namespace
}  // namespace castor::rpc
