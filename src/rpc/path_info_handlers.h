// gRPC handlers of the Nix PathInfoService (tvix.store.v1, also registered
// under snix.store.v1, whose messages are identical): Get (by the 20-byte
// store path digest; NOT_FOUND when unknown), Put (validated as Nix would
// validate an untrusted path info, nix/path_info.h; the node's whole closure
// must be stored, else FAILED_PRECONDITION naming what is missing; stored
// through NixStore::Add, so the path also becomes a root), List, and
// CalculateNAR (size and SHA-256 of a stored node's NAR). Put holds the
// daemon's commit gate shared, like root Puts, so its closure check and
// commit never overlap the daemon's gc. Thread-safe.
#pragma once

#include <memory>

#include "nix/store.h"
#include "rpc/servers.h"

namespace castor::rpc {

// Adds the tvix.store.v1 and snix.store.v1 PathInfoService to `handlers`
// (DaemonOptions::add_services), serving `store`. `check_closure` false
// skips Put's closure check (for the conformance suite, whose path infos
// point at nothing; cf. HandlerOptions::check_root_referents).
void AddPathInfoHandlers(CastoreHandlers& handlers, std::shared_ptr<nix::NixStore> store,
                         bool check_closure = true);

}  // namespace castor::rpc
