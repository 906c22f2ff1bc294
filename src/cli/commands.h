// The subcommand table. Each command adds its CLI11 subcommand and a run
// function; RunSelected runs the one the user picked and returns the exit
// code (0 only on success). Single-threaded (start-up only).
#pragma once

#include <functional>

#include "CLI/CLI.hpp"

namespace castor::cli {

// Registers a subcommand's runner (called by the Add*Command functions).
void SetRunner(CLI::App* sub, std::function<int()> run);

void RegisterCommands(CLI::App& app);
int RunSelected(CLI::App& app);

// One per command family (cmd_*.cc).
void AddStoreCommands(CLI::App& app);  // roots, ls, cat, rm, import, export, verify, gc
void AddMountCommand(CLI::App& app);   // mount
void AddDaemonCommand(CLI::App& app);  // daemon (cmd_daemon.cc)
void AddVirtiofsCommand(CLI::App& app);  // virtiofs

}  // namespace castor::cli
