// The observability flags shared by the long-running commands (daemon,
// mount, virtiofs): --metrics-listen, which serves the process's metrics
// registry over HTTP for Prometheus, --log-format, text or json (one JSON
// object per line), and --log-file, where the log goes (stderr otherwise;
// a process that detaches from its caller logs to syslog unless given
// one). Single-threaded: a command calls Start once at start-up, before it
// serves; the returned server lives until the command returns.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "base/metrics_server.h"
#include "spdlog/common.h"

namespace castor::cli {

struct ObservabilityFlags {
  std::string metrics_listen;
  std::string log_format = "text";
  std::string log_file;

  void AddTo(CLI::App& cmd);

  // Applies --log-format and --log-file to spdlog's default logger (a
  // process that `detaches` from its terminal and has no --log-file logs
  // to syslog, facility daemon, ident "castor"), registers
  // castor_build_info, and starts the metrics server when --metrics-listen
  // was given (null otherwise), logging the address it serves on. Call it
  // where the command's process will serve (after any fork: the server has
  // a thread). FailedPrecondition naming the file when --log-file cannot be
  // opened for appending.
  absl::StatusOr<std::unique_ptr<metrics::MetricsServer>> Start(bool detaches = false) const;
};

// One log record as a JSON line (with the newline): {"time":
// "2026-12-06T02:44:19.123Z","level":"info","message":...,"logger":...}.
// Strings are escaped for JSON; bytes that are not UTF-8 become U+FFFD.
std::string JsonLogLine(spdlog::log_clock::time_point time, spdlog::level::level_enum level,
                        std::string_view logger, std::string_view message);

}  // namespace castor::cli
