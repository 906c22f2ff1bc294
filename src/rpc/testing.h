// Test helpers: an in-process Daemon over memory:// services on a unix
// socket in a fresh temporary directory, and clients connected to it. For
// tests only (not thread-safe to construct; the services it hands out are).
#pragma once

#include <memory>
#include <string>

#include "castore/blob/memory_blob_service.h"
#include "castore/directory/memory_directory_service.h"
#include "castore/roots/memory_root_service.h"
#include "castore/testing/temp_dir.h"
#include "rpc/channel.h"
#include "rpc/daemon.h"
#include "rpc/grpc_blob_service.h"
#include "rpc/grpc_directory_service.h"
#include "rpc/grpc_root_service.h"

namespace castor::rpc::testing {

using castore::testing::TempDir;

// Memory services served by an in-process daemon; Restart() stops and starts
// it again on the same socket (keeping the stored data).
class LocalDaemon {
 public:
  // Over memory:// services, or over `backing`.
  LocalDaemon()
      : LocalDaemon({std::make_shared<castore::MemoryBlobService>(),
                     std::make_shared<castore::MemoryDirectoryService>(),
                     std::make_shared<castore::MemoryRootService>()}) {}
  explicit LocalDaemon(castore::Services backing, DaemonOptions options = {})
      : dir_("rpc"),
        backing_(std::move(backing)),
        options_(options),
        socket_(dir_.path() + "/castor.sock") {
    Start();
  }

  void Start() {
    auto d = Daemon::Start(backing_, {*ListenAddress::Parse("unix://" + socket_)}, options_);
    CASTOR_CHECK(d.ok());
    daemon_ = std::move(*d);
  }
  void Stop() { daemon_.reset(); }
  void Restart() {
    Stop();
    Start();
  }

  const castore::Services& backing() const { return backing_; }
  const std::string& socket() const { return socket_; }
  std::string address() const { return "grpc+unix://" + socket_; }
  std::shared_ptr<grpc::Channel> channel() const {
    auto addr = castore::ServiceAddress::Parse(address());
    return *OpenChannel(*addr);
  }
  castore::Services Clients() const {
    return {std::make_shared<GrpcBlobService>(channel(), address()),
            std::make_shared<GrpcDirectoryService>(channel(), address()),
            std::make_shared<GrpcRootService>(channel(), address())};
  }

 private:
  TempDir dir_;
  castore::Services backing_;
  DaemonOptions options_;
  std::string socket_;
  std::unique_ptr<Daemon> daemon_;
};

}  // namespace castor::rpc::testing
