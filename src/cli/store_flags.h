// Store selection flags shared by every subcommand: --store, the three
// composition overrides and the bounds on calls to a remote daemon.
// Single-threaded (start-up only).
#pragma once

#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "castore/composition.h"
#include "nix/store.h"

namespace castor::cli {

struct StoreFlags {
  std::string store;  // empty: castore::DefaultStoreDir()
  std::string blob_addr;
  std::string directory_addr;
  std::string root_addr;
  // Empty: where the roots are (the same lmdb:// environment or grpc+
  // daemon; memory:// for memory:// roots).
  std::string path_info_addr;
  // Non-empty: blobs and directories read from the store are kept in a
  // local store there (file://DIR/blobs, the LMDB database
  // "cached_directories" in DIR/meta), see castore/blob/caching_blob_service.h
  // and castore/directory/caching_directory_service.h.
  std::string cache;
  // Most bytes of blobs the cache holds (least recently used evicted,
  // blobs being read pinned); UINT64_MAX: bounded by the disk only
  // (castore/blob/bounded_blob_store.h).
  uint64_t cache_size = UINT64_MAX;
  // Seconds: a stream from a daemon with no message for this long is
  // cancelled; a unary call's deadline (rpc/call_watchdog.h).
  double rpc_idle_timeout = 15;
  double rpc_timeout = 30;
  // PEM file of the CA certificates grpc+https:// daemons are checked
  // against; empty: the system's roots.
  std::string tls_ca;
  // Directories the cache prefetches in the background below each
  // Directory it had to fetch.
  static constexpr size_t kCachePrefetch = size_t{1} << 20;

  // Adds --store, --blob-service-addr, --directory-service-addr,
  // --root-service-addr, --path-info-service-addr, --cache, --cache-size,
  // --rpc-idle-timeout, --rpc-timeout and --tls-ca to `cmd`.
  void AddTo(CLI::App& cmd);
  // The addresses after overrides.
  castore::StoreAddresses Addresses() const;
  std::string PathInfoAddress() const;
  // Opens the three services (creating the embedded store's folders), with
  // the cache in front of blobs and directories when --cache is given, and
  // sets the process's call timeouts. When roots and path infos are both
  // local (not grpc+...), the roots go through nix::PathInfoBoundRootService,
  // so removing or replacing a Nix path's root drops its path info (a
  // daemon serving them does that on its side).
  absl::StatusOr<castore::Services> Open() const;
  // Open() plus the path info service: castor as a Nix store.
  absl::StatusOr<std::shared_ptr<nix::NixStore>> OpenNixStore() const;

 private:
  // The three services, without the path info binding.
  absl::StatusOr<castore::Services> OpenCastore() const;
};

}  // namespace castor::cli
