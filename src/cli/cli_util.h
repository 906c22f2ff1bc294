// Helpers shared by the store subcommands: error printing, byte formatting,
// node descriptions, and the import/gc store lock selection.
// Single-threaded (command start-up and output).
#pragma once

#include <cstdint>
#include <functional>
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

// Whether any service is local (file:// or lmdb://): then the store
// directory's locks apply.
bool UsesLocalStore(const StoreFlags& flags);

// Takes the import/gc lock of the store when any service is local; remote
// stores (grpc) get no lock here (null). Prints a note on stderr when it has
// to wait.
absl::StatusOr<std::unique_ptr<castore::StoreLock>> LockStore(const StoreFlags& flags,
                                                              castore::StoreLock::Mode mode);

// Takes the store's ServeLock (castore/maintenance/store_lock.h) as
// `program` when any service is local (null otherwise). When a daemon holds
// it, `on_daemon` decides: an error to give up with, or OK to wait until the
// daemon exits. Whatever else holds it (a local gc) is waited for. Prints a
// note on stderr when it waits.
absl::StatusOr<std::unique_ptr<castore::ServeLock>> LockServing(
    const StoreFlags& flags, const std::string& program,
    const std::function<absl::Status(const castore::ServeLock::Holder& daemon)>& on_daemon);

// The `program` a daemon records in the ServeLock.
inline constexpr char kDaemonProgram[] = "castor daemon";

// Registered by AddStoreCommands (cmd_store.cc).
void AddImportCommands(CLI::App& app);       // import, export (cmd_import.cc)
void AddMaintenanceCommands(CLI::App& app);  // verify, gc (cmd_maintenance.cc)

}  // namespace castor::cli
