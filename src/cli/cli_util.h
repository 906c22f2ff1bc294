// Helpers shared by the store subcommands: error printing, byte formatting,
// node descriptions, and the import/gc store lock selection.
// Single-threaded (command start-up and output).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "castore/maintenance/store_lock.h"
#include "castore/node.h"
#include "cli/store_flags.h"

namespace castor::cli {

// Prints "castor: <message>" on stderr and returns 1.
int Fail(const absl::Status& s);

// "1.5 GiB", "123 B".
std::string HumanBytes(uint64_t n);

// "directory b3:... 12 entries", "file b3:... 3 bytes", "symlink -> t".
std::string DescribeNode(const castore::Node& node);

// The store directory the flags select (--store or the default).
std::string StoreDir(const StoreFlags& flags);

// Takes the import/gc lock of the store when any service is local (file://
// or lmdb://); remote stores (grpc) get no lock here (null). Prints a note
// on stderr when it has to wait.
absl::StatusOr<std::unique_ptr<castore::StoreLock>> LockStore(const StoreFlags& flags,
                                                               castore::StoreLock::Mode mode);

// Registered by AddStoreCommands (cmd_store.cc).
void AddImportCommands(CLI::App& app);       // import, export (cmd_import.cc)
void AddMaintenanceCommands(CLI::App& app);  // verify, gc (cmd_maintenance.cc)

}  // namespace castor::cli
