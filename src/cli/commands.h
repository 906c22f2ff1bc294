// The subcommand table. Each command adds its CLI11 subcommand and a run
// function; RunSelected runs the one the user picked and returns the exit
// code (0 only on success). Single-threaded (start-up only).
#pragma once

#include <signal.h>

#include <functional>

#include "CLI/CLI.hpp"

namespace castor::cli {

// How a command takes SIGINT and SIGTERM.
enum class Signals {
  // As the process does by default (or as the command's own handlers say).
  kDefault,
  // Blocked before the command runs, so in every thread it will ever have
  // (gRPC starts its threads as soon as a client or server exists): a
  // long-running command (mount, daemon, virtiofs) waits for them with
  // sigwait / sigtimedwait / signalfd and shuts down cleanly. Were they
  // unblocked in some thread, the kernel would deliver them there, and their
  // default action would kill the process without a clean shutdown.
  kAwaited,
};

// SIGINT and SIGTERM: what a kAwaited command waits for.
sigset_t TerminationSignals();

// Registers a subcommand's runner (called by the Add*Command functions).
void SetRunner(CLI::App* sub, std::function<int()> run);
void SetRunner(CLI::App* sub, Signals signals, std::function<int()> run);

void RegisterCommands(CLI::App& app);
int RunSelected(CLI::App& app);

// One per command family (cmd_*.cc).
void AddStoreCommands(CLI::App& app);    // roots, ls, cat, rm, import, export, verify, gc
void AddMountCommand(CLI::App& app);     // mount
void AddDaemonCommand(CLI::App& app);    // daemon (cmd_daemon.cc)
void AddVirtiofsCommand(CLI::App& app);  // virtiofs
void AddNixCommands(CLI::App& app);      // nix import-nar, dump, path-info, serve, copy
void AddDocsCommands(CLI::App& app);     // completion, man (hidden; cmd_docs.cc)

}  // namespace castor::cli
