#include "cli/observability.h"

#include <syslog.h>

#include <ctime>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/metrics.h"
#include "base/status.h"
#include "castore/blake3_impl.h"
#include "spdlog/formatter.h"
#include "spdlog/sinks/basic_file_sink.h"
#include "spdlog/sinks/stdout_sinks.h"
#include "spdlog/sinks/syslog_sink.h"
#include "spdlog/spdlog.h"

namespace castor::cli {
namespace {

// Length of the valid UTF-8 sequence starting at s[0], or 0.
size_t Utf8SequenceLength(std::string_view s) {
  auto b = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  auto cont = [&](size_t i) { return i < s.size() && (b(i) & 0xC0) == 0x80; };
  unsigned char c = b(0);
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (!cont(1) || !cont(2)) return 0;
    if (c == 0xE0 && b(1) < 0xA0) return 0;   // overlong
    if (c == 0xED && b(1) >= 0xA0) return 0;  // surrogates
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    if (c == 0xF0 && b(1) < 0x90) return 0;   // overlong
    if (c == 0xF4 && b(1) >= 0x90) return 0;  // above U+10FFFF
    return 4;
  }
  return 0;
}

void AppendJsonString(std::string& out, std::string_view s) {
  out += '"';
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '"') {
      out += "\\\"";
    } else if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\u00";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    } else if (c < 0x80) {
      out += static_cast<char>(c);
    } else {
      size_t n = Utf8SequenceLength(s.substr(i));
      if (n == 0) {
        out += "\\ufffd";
        ++i;
        continue;
      }
      out.append(s.substr(i, n));
      i += n;
      continue;
    }
    ++i;
  }
  out += '"';
}

class JsonFormatter : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    std::string line = JsonLogLine(msg.time, msg.level,
                                   std::string_view(msg.logger_name.data(), msg.logger_name.size()),
                                   std::string_view(msg.payload.data(), msg.payload.size()));
    dest.append(line.data(), line.data() + line.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>();
  }
};

}  // namespace

std::string JsonLogLine(spdlog::log_clock::time_point time, spdlog::level::level_enum level,
                        std::string_view logger, std::string_view message) {
  auto since_epoch = time.time_since_epoch();
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(since_epoch);
  auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch - secs).count();
  std::time_t t = static_cast<std::time_t>(secs.count());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char stamp[64];
  size_t n = std::strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
  std::string out = "{\"time\":\"";
  out.append(stamp, n);
  char frac[8];
  std::snprintf(frac, sizeof(frac), ".%03dZ", static_cast<int>(millis));
  out += frac;
  out += "\",\"level\":";
  spdlog::string_view_t name = spdlog::level::to_string_view(level);
  AppendJsonString(out, std::string_view(name.data(), name.size()));
  out += ",\"message\":";
  AppendJsonString(out, message);
  out += ",\"logger\":";
  AppendJsonString(out, logger.empty() ? std::string_view("castor") : logger);
  out += "}\n";
  return out;
}

void ObservabilityFlags::AddTo(CLI::App& cmd) {
  cmd.add_option("--metrics-listen", metrics_listen,
                 "Serve Prometheus metrics over HTTP at http://ADDR/metrics: HOST:PORT, :PORT "
                 "(every interface) or unix:PATH. Port 0 picks a free port; the address is "
                 "logged. Unauthenticated, like any Prometheus endpoint: bind it to a trusted "
                 "network (docs/operations.md lists the metrics)")
      ->type_name("ADDR");
  cmd.add_option("--log-format", log_format,
                 "Log lines as text, or as json: one object per line on stderr with time, "
                 "level, message and logger")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  cmd.add_option("--log-file", log_file,
                 "Append the log to FILE instead of stderr (created if missing). A mount with "
                 "--background logs to syslog unless given one")
      ->type_name("FILE");
}

absl::StatusOr<std::unique_ptr<metrics::MetricsServer>> ObservabilityFlags::Start(
    bool detaches) const {
  const bool json = log_format == "json";
  spdlog::sink_ptr sink;
  if (!log_file.empty()) {
    try {
      sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(log_file);
    } catch (const spdlog::spdlog_ex& e) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot open log file ", log_file, ": ", e.what()));
    }
  } else if (detaches) {
    // The process's stderr is /dev/null once it detaches: syslog keeps the
    // log (journald's /dev/log under systemd). syslog adds time and ident.
    sink = std::make_shared<spdlog::sinks::syslog_sink_mt>("castor", LOG_PID, LOG_DAEMON, false);
    if (!json) sink->set_pattern("%v");
  } else if (json) {
    sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  }
  if (sink) {
    if (json) sink->set_formatter(std::make_unique<JsonFormatter>());
    auto logger = std::make_shared<spdlog::logger>("castor", std::move(sink));
    logger->set_level(spdlog::default_logger()->level());
    // A file or syslog is read by someone else, maybe after a crash: every
    // line is written out as it is logged.
    logger->flush_on(spdlog::level::trace);
    spdlog::set_default_logger(std::move(logger));
  }
  metrics::Registry& registry = metrics::Registry::Default();
  registry
      .AddGaugeFamily("castor_build_info",
                      "Always 1; the labels say which castor and which BLAKE3 kernel this is.",
                      {"version", "blake3"})
      .WithLabels({CASTOR_VERSION, castore::Blake3Description()})
      .Set(1);
  if (metrics_listen.empty()) return std::unique_ptr<metrics::MetricsServer>();
  ASSIGN_OR_RETURN(auto server, metrics::MetricsServer::Start(metrics_listen, registry));
  spdlog::info("metrics: serving {} (GET /metrics)", server->address());
  return server;
}

}  // namespace castor::cli
