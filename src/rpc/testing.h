// Test helpers: an in-process Daemon over memory:// services on a unix
// socket in a fresh temporary directory, and clients connected to it. For
// tests only (not thread-safe to construct; the services it hands out are).
#pragma once

#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>

#include "castore/blob/memory_blob_service.h"
#include "castore/directory/memory_directory_service.h"
#include "castore/roots/memory_root_service.h"
#include "rpc/channel.h"
#include "rpc/daemon.h"
#include "rpc/grpc_blob_service.h"
#include "rpc/grpc_directory_service.h"
#include "rpc/grpc_root_service.h"

namespace castor::rpc::testing {

// A temporary directory removed (recursively) on destruction.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "castor-rpc-XXXXXX").string();
    CASTOR_CHECK(::mkdtemp(tmpl.data()) != nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Memory services served by an in-process daemon; Restart() stops and starts
// it again on the same socket (keeping the stored data).
class LocalDaemon {
 public:
  LocalDaemon()
      : backing_{std::make_shared<castore::MemoryBlobService>(),
                 std::make_shared<castore::MemoryDirectoryService>(),
                 std::make_shared<castore::MemoryRootService>()},
        socket_(dir_.path() + "/castor.sock") {
    Start();
  }

  void Start() {
    auto d = Daemon::Start(backing_, {*ListenAddress::Parse("unix://" + socket_)});
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
  std::string socket_;
  std::unique_ptr<Daemon> daemon_;
};

}  // namespace castor::rpc::testing
