// A small metrics registry: counters, gauges and histograms with fixed
// buckets, optionally split by labels, rendered in the Prometheus text
// exposition format 0.0.4. Code that measures something asks the process-wide
// Registry::Default() for its metric once (registration takes a lock) and
// keeps the reference; updating a metric is then a relaxed atomic operation,
// never a lock. A labelled family hands out one child per label-value tuple;
// looking a child up takes the family's lock, so hot paths resolve their
// children once and keep them. A family holds at most kMaxChildren children:
// further tuples all share one child whose label values are "overflow", so a
// bug that labels by unbounded input cannot grow the process without bound.
// The registry knows nothing of HTTP (base/metrics_server.h serves it).
//
// Thread-safe: every class here may be used from any number of threads.
// Metrics live as long as their registry (the default one: the process).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/mutex.h"

namespace castor::metrics {

// A value that only goes up (events, bytes).
class Counter {
 public:
  void Inc(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

// A value that goes up and down (live objects).
class Gauge {
 public:
  void Set(int64_t v) { value_.store(v, std::memory_order_relaxed); }
  void Add(int64_t n) { value_.fetch_add(n, std::memory_order_relaxed); }
  int64_t Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> value_{0};
};

// Observations counted into fixed buckets (upper bounds, ascending; +Inf is
// implicit), with their sum. The rendered _count is the sum of the bucket
// counts, so it always equals the +Inf bucket.
class Histogram {
 public:
  explicit Histogram(std::span<const double> bounds);

  void Observe(double v);

  std::span<const double> bounds() const { return bounds_; }
  // Per-bucket (not cumulative) counts; the last one is the +Inf bucket.
  std::vector<uint64_t> BucketCounts() const;
  uint64_t Count() const;
  double Sum() const { return sum_.load(std::memory_order_relaxed); }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // bounds_.size() + 1
  std::atomic<double> sum_{0};
};

// Buckets for latencies in seconds: 50 µs .. 10 s.
std::span<const double> LatencyBuckets();

enum class Type { kCounter, kGauge, kHistogram };

// A metric with label names and one child per tuple of label values.
template <typename T>
class Family {
 public:
  static constexpr size_t kMaxChildren = 2000;

  // The child for `values` (one per label name, in order; a wrong count is a
  // programming error and aborts).
  T& WithLabels(std::initializer_list<std::string_view> values) {
    return WithLabels(std::vector<std::string>(values.begin(), values.end()));
  }
  T& WithLabels(const std::vector<std::string>& values);

  const std::vector<std::string>& label_names() const { return label_names_; }

  // Calls f(label values, child) for every child, in label order.
  void ForEach(const std::function<void(const std::vector<std::string>&, const T&)>& f) const;

 private:
  friend class Registry;
  Family(std::vector<std::string> label_names, std::function<std::unique_ptr<T>()> make)
      : label_names_(std::move(label_names)), make_(std::move(make)) {}

  const std::vector<std::string> label_names_;
  const std::function<std::unique_ptr<T>()> make_;
  mutable Mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<T>> children_ ABSL_GUARDED_BY(mu_);
};

using CounterFamily = Family<Counter>;
using GaugeFamily = Family<Gauge>;
using HistogramFamily = Family<Histogram>;

// Metric names, label names and help texts are the program's own constants:
// an invalid name, or one registered twice with another type, labels or
// buckets, aborts. Registering the same metric again returns the first one,
// so independent pieces of code (or two instances of one class) may each
// ask for it.
class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // The process's registry, which --metrics-listen serves.
  static Registry& Default();

  Counter& AddCounter(std::string_view name, std::string_view help);
  Gauge& AddGauge(std::string_view name, std::string_view help);
  Histogram& AddHistogram(std::string_view name, std::string_view help,
                          std::span<const double> bounds);
  CounterFamily& AddCounterFamily(std::string_view name, std::string_view help,
                                  std::vector<std::string> label_names);
  GaugeFamily& AddGaugeFamily(std::string_view name, std::string_view help,
                              std::vector<std::string> label_names);
  HistogramFamily& AddHistogramFamily(std::string_view name, std::string_view help,
                                      std::vector<std::string> label_names,
                                      std::span<const double> bounds);

  // Every metric in the text exposition format 0.0.4, sorted by name.
  std::string Render() const;

 private:
  struct Entry {
    Type type;
    std::string help;
    std::vector<std::string> label_names;
    std::vector<double> bounds;
    // Exactly one of these, matching `type`.
    std::unique_ptr<CounterFamily> counters;
    std::unique_ptr<GaugeFamily> gauges;
    std::unique_ptr<HistogramFamily> histograms;
  };
  Entry& Add(std::string_view name, std::string_view help, Type type,
             std::vector<std::string> label_names, std::span<const double> bounds);

  mutable Mutex mu_;
  std::map<std::string, Entry, std::less<>> entries_ ABSL_GUARDED_BY(mu_);
};

// The content type of Registry::Render's output.
inline constexpr char kTextContentType[] = "text/plain; version=0.0.4; charset=utf-8";

// A label value as the text format quotes it: \ " and newline escaped.
std::string EscapeLabelValue(std::string_view v);

// Seconds since `start` on the steady clock, for latency histograms.
double SecondsSince(std::chrono::steady_clock::time_point start);

template <typename T>
T& Family<T>::WithLabels(const std::vector<std::string>& values) {
  if (values.size() != label_names_.size()) {
    std::abort();  // a programming error: the caller's label count is fixed
  }
  MutexLock lock(&mu_);
  auto it = children_.find(values);
  if (it != children_.end()) return *it->second;
  if (children_.size() >= kMaxChildren) {
    std::vector<std::string> overflow(values.size(), "overflow");
    auto& child = children_[overflow];
    if (!child) child = make_();
    return *child;
  }
  auto& child = children_[values];
  child = make_();
  return *child;
}

template <typename T>
void Family<T>::ForEach(
    const std::function<void(const std::vector<std::string>&, const T&)>& f) const {
  MutexLock lock(&mu_);
  for (const auto& [values, child] : children_) f(values, *child);
}

}  // namespace castor::metrics
