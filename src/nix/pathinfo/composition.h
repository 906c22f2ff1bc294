// PathInfoService addresses, composed like castore's services
// (castore/composition.h):
//   memory://                     in-process
//   lmdb:///path                  the LMDB environment at PATH (the embedded
//                                 store's DIR/meta, beside its roots)
//   grpc+unix:///sock, grpc+http://host:port
//                                 a castor daemon or any tvix/snix store
//                                 (registered by rpc/, see
//                                 rpc/grpc_path_info_service.h)
// Further backends (an object store) register a factory per scheme with
// RegisterPathInfoScheme; stores/stores.h opens with all of them registered. Registration happens
// at start-up (before threads); opening is thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "castore/composition.h"
#include "nix/pathinfo/path_info_service.h"

namespace castor::nix {

using PathInfoServiceFactory =
    std::function<absl::StatusOr<std::shared_ptr<PathInfoService>>(const castore::ServiceAddress&)>;

void RegisterPathInfoScheme(const std::string& scheme, PathInfoServiceFactory factory);

// Opens a path info service from an address. An unknown scheme, a missing
// or relative path, or a backend that cannot open give InvalidArgument /
// Unavailable naming the address.
absl::StatusOr<std::shared_ptr<PathInfoService>> OpenPathInfoService(std::string_view addr);

// The embedded store's path info service in DIR: lmdb://DIR/meta, the
// environment that holds its directories and roots.
std::string EmbeddedPathInfoAddress(const std::string& store_dir);

}  // namespace castor::nix
