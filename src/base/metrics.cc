#include "base/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

namespace castor::metrics {
namespace {

constexpr double kLatencyBuckets[] = {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                      0.005,   0.01,   0.025,   0.05,   0.1,   0.25,
                                      0.5,     1,      2.5,     5,      10};

[[noreturn]] void Die(std::string_view why, std::string_view name) {
  std::fprintf(stderr, "metrics: %.*s: %.*s\n", static_cast<int>(name.size()), name.data(),
               static_cast<int>(why.size()), why.data());
  std::abort();
}

bool ValidName(std::string_view name, bool allow_colon) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
              (allow_colon && c == ':') || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

// Go's strconv.FormatFloat(v, 'g', -1, 64) spelling, which Prometheus reads.
std::string FormatDouble(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  if (ec != std::errc()) return "NaN";
  return std::string(buf, end);
}

std::string EscapeHelp(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

// {a="x",b="y"} plus an optional extra label (le); empty when no labels.
std::string Labels(const std::vector<std::string>& names, const std::vector<std::string>& values,
                   std::string_view extra_name = {}, std::string_view extra_value = {}) {
  if (names.empty() && extra_name.empty()) return "";
  std::string out = "{";
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += ',';
    out += names[i];
    out += "=\"";
    out += EscapeLabelValue(values[i]);
    out += '"';
  }
  if (!extra_name.empty()) {
    if (!names.empty()) out += ',';
    out += extra_name;
    out += "=\"";
    out += EscapeLabelValue(extra_value);
    out += '"';
  }
  out += '}';
  return out;
}

}  // namespace

Histogram::Histogram(std::span<const double> bounds)
    : bounds_(bounds.begin(), bounds.end()),
      buckets_(std::make_unique<std::atomic<uint64_t>[]>(bounds.size() + 1)) {
  for (size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0, std::memory_order_relaxed);
}

void Histogram::Observe(double v) {
  // The first bucket whose upper bound is >= v (le is inclusive).
  size_t i = std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin();
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

std::vector<uint64_t> Histogram::BucketCounts() const {
  std::vector<uint64_t> out(bounds_.size() + 1);
  for (size_t i = 0; i < out.size(); ++i) out[i] = buckets_[i].load(std::memory_order_relaxed);
  return out;
}

uint64_t Histogram::Count() const {
  uint64_t n = 0;
  for (uint64_t c : BucketCounts()) n += c;
  return n;
}

std::span<const double> LatencyBuckets() { return kLatencyBuckets; }

std::string EscapeLabelValue(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

Registry& Registry::Default() {
  static Registry* const registry = new Registry();  // never destroyed: used until exit
  return *registry;
}

Registry::Entry& Registry::Add(std::string_view name, std::string_view help, Type type,
                               std::vector<std::string> label_names,
                               std::span<const double> bounds) {
  if (!ValidName(name, true)) Die("invalid metric name", name);
  for (const std::string& l : label_names) {
    if (!ValidName(l, false) || l.starts_with("__") || (type == Type::kHistogram && l == "le")) {
      Die("invalid label name " + l, name);
    }
  }
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (std::isnan(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1])) {
      Die("histogram bounds must ascend", name);
    }
  }
  MutexLock lock(&mu_);
  auto it = entries_.find(name);
  if (it != entries_.end()) {
    Entry& e = it->second;
    if (e.type != type || e.label_names != label_names ||
        !std::equal(e.bounds.begin(), e.bounds.end(), bounds.begin(), bounds.end())) {
      Die("registered twice with different types, labels or buckets", name);
    }
    return e;
  }
  Entry& e = entries_[std::string(name)];
  e.type = type;
  e.help = std::string(help);
  e.label_names = label_names;
  e.bounds.assign(bounds.begin(), bounds.end());
  switch (type) {
    case Type::kCounter:
      e.counters.reset(
          new CounterFamily(std::move(label_names), [] { return std::make_unique<Counter>(); }));
      break;
    case Type::kGauge:
      e.gauges.reset(
          new GaugeFamily(std::move(label_names), [] { return std::make_unique<Gauge>(); }));
      break;
    case Type::kHistogram: {
      std::vector<double> b(bounds.begin(), bounds.end());
      e.histograms.reset(new HistogramFamily(
          std::move(label_names), [b = std::move(b)] { return std::make_unique<Histogram>(b); }));
      break;
    }
  }
  return e;
}

Counter& Registry::AddCounter(std::string_view name, std::string_view help) {
  return Add(name, help, Type::kCounter, {}, {}).counters->WithLabels({});
}

Gauge& Registry::AddGauge(std::string_view name, std::string_view help) {
  return Add(name, help, Type::kGauge, {}, {}).gauges->WithLabels({});
}

Histogram& Registry::AddHistogram(std::string_view name, std::string_view help,
                                  std::span<const double> bounds) {
  return Add(name, help, Type::kHistogram, {}, bounds).histograms->WithLabels({});
}

CounterFamily& Registry::AddCounterFamily(std::string_view name, std::string_view help,
                                          std::vector<std::string> label_names) {
  return *Add(name, help, Type::kCounter, std::move(label_names), {}).counters;
}

GaugeFamily& Registry::AddGaugeFamily(std::string_view name, std::string_view help,
                                      std::vector<std::string> label_names) {
  return *Add(name, help, Type::kGauge, std::move(label_names), {}).gauges;
}

HistogramFamily& Registry::AddHistogramFamily(std::string_view name, std::string_view help,
                                              std::vector<std::string> label_names,
                                              std::span<const double> bounds) {
  return *Add(name, help, Type::kHistogram, std::move(label_names), bounds).histograms;
}

std::string Registry::Render() const {
  std::string out;
  MutexLock lock(&mu_);
  for (const auto& entry : entries_) {
    // Named, not bound: lambdas cannot capture structured bindings in C++20.
    const std::string& name = entry.first;
    const Entry& e = entry.second;
    out += "# HELP " + name + " " + EscapeHelp(e.help) + "\n";
    switch (e.type) {
      case Type::kCounter:
        out += "# TYPE " + name + " counter\n";
        e.counters->ForEach([&](const std::vector<std::string>& values, const Counter& c) {
          out += name + Labels(e.label_names, values) + " " + std::to_string(c.Value()) + "\n";
        });
        break;
      case Type::kGauge:
        out += "# TYPE " + name + " gauge\n";
        e.gauges->ForEach([&](const std::vector<std::string>& values, const Gauge& g) {
          out += name + Labels(e.label_names, values) + " " + std::to_string(g.Value()) + "\n";
        });
        break;
      case Type::kHistogram:
        out += "# TYPE " + name + " histogram\n";
        e.histograms->ForEach([&](const std::vector<std::string>& values, const Histogram& h) {
          std::vector<uint64_t> counts = h.BucketCounts();
          uint64_t cumulative = 0;
          for (size_t i = 0; i < counts.size(); ++i) {
            cumulative += counts[i];
            std::string le = i < h.bounds().size() ? FormatDouble(h.bounds()[i]) : "+Inf";
            out += name + "_bucket" + Labels(e.label_names, values, "le", le) + " " +
                   std::to_string(cumulative) + "\n";
          }
          out += name + "_sum" + Labels(e.label_names, values) + " " + FormatDouble(h.Sum()) + "\n";
          out += name + "_count" + Labels(e.label_names, values) + " " +
                 std::to_string(cumulative) + "\n";
        });
        break;
    }
  }
  return out;
}

}  // namespace castor::metrics
