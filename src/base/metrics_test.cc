#include "base/metrics.h"

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace castor::metrics {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(MetricsRegistry, CounterRendersHelpTypeAndValue) {
  Registry r;
  Counter& c = r.AddCounter("castor_test_events_total", "Events seen.");
  c.Inc();
  c.Inc(41);
  EXPECT_EQ(c.Value(), 42u);
  EXPECT_EQ(r.Render(),
            "# HELP castor_test_events_total Events seen.\n"
            "# TYPE castor_test_events_total counter\n"
            "castor_test_events_total 42\n");
}

TEST(MetricsRegistry, GaugeGoesUpAndDown) {
  Registry r;
  Gauge& g = r.AddGauge("castor_test_live", "Live things.");
  g.Add(5);
  g.Add(-7);
  EXPECT_THAT(r.Render(), HasSubstr("castor_test_live -2\n"));
  g.Set(3);
  EXPECT_THAT(r.Render(), HasSubstr("castor_test_live 3\n"));
}

TEST(MetricsRegistry, LabelValuesAreEscapedAndSorted) {
  Registry r;
  CounterFamily& f = r.AddCounterFamily("castor_test_requests_total", "Requests.", {"op", "path"});
  f.WithLabels({"b", "plain"}).Inc();
  f.WithLabels({"a", "quote\" back\\slash\nnewline"}).Inc(2);
  std::string text = r.Render();
  EXPECT_THAT(text, HasSubstr("castor_test_requests_total{op=\"a\",path=\"quote\\\" "
                              "back\\\\slash\\nnewline\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("castor_test_requests_total{op=\"b\",path=\"plain\"} 1\n"));
  EXPECT_LT(text.find("op=\"a\""), text.find("op=\"b\""));
  // The same values give the same child.
  EXPECT_EQ(&f.WithLabels({"b", "plain"}), &f.WithLabels({"b", "plain"}));
}

TEST(MetricsRegistry, HelpTextIsEscaped) {
  Registry r;
  r.AddCounter("castor_test_x_total", "line one\nback\\slash");
  EXPECT_THAT(r.Render(), HasSubstr("# HELP castor_test_x_total line one\\nback\\\\slash\n"));
}

TEST(MetricsRegistry, HistogramBucketsAreCumulativeWithSumAndCount) {
  Registry r;
  const double bounds[] = {0.25, 1, 10};
  HistogramFamily& f = r.AddHistogramFamily("castor_test_seconds", "Latency.", {"op"}, bounds);
  Histogram& h = f.WithLabels({"READ"});
  h.Observe(0.125);  // le 0.25
  h.Observe(0.25);   // le is inclusive: 0.25
  h.Observe(0.5);    // 1
  h.Observe(100);    // +Inf
  std::string text = r.Render();
  EXPECT_THAT(text, HasSubstr("# TYPE castor_test_seconds histogram\n"
                              "castor_test_seconds_bucket{op=\"READ\",le=\"0.25\"} 2\n"
                              "castor_test_seconds_bucket{op=\"READ\",le=\"1\"} 3\n"
                              "castor_test_seconds_bucket{op=\"READ\",le=\"10\"} 3\n"
                              "castor_test_seconds_bucket{op=\"READ\",le=\"+Inf\"} 4\n"
                              "castor_test_seconds_sum{op=\"READ\"} 100.875\n"
                              "castor_test_seconds_count{op=\"READ\"} 4\n"));
  EXPECT_EQ(h.Count(), 4u);
}

TEST(MetricsRegistry, UnlabelledHistogramHasOnlyLe) {
  Registry r;
  const double bounds[] = {1};
  Histogram& h = r.AddHistogram("castor_test_h", "H.", bounds);
  h.Observe(2);
  EXPECT_THAT(r.Render(), HasSubstr("castor_test_h_bucket{le=\"1\"} 0\n"
                                    "castor_test_h_bucket{le=\"+Inf\"} 1\n"
                                    "castor_test_h_sum 2\n"
                                    "castor_test_h_count 1\n"));
}

TEST(MetricsRegistry, RegisteringAgainReturnsTheSameMetric) {
  Registry r;
  Counter& a = r.AddCounter("castor_test_again_total", "A.");
  Counter& b = r.AddCounter("castor_test_again_total", "A.");
  EXPECT_EQ(&a, &b);
  a.Inc();
  EXPECT_EQ(b.Value(), 1u);
}

TEST(MetricsRegistryDeathTest, ConflictingRegistrationAborts) {
  Registry r;
  r.AddCounter("castor_test_conflict", "A.");
  EXPECT_DEATH(r.AddGauge("castor_test_conflict", "A."), "registered twice");
  EXPECT_DEATH(r.AddCounter("0bad-name", "A."), "invalid metric name");
  EXPECT_DEATH(r.AddCounterFamily("castor_test_l", "A.", {"bad-label"}), "invalid label name");
}

TEST(MetricsRegistry, LabelSetIsBoundedByAnOverflowChild) {
  Registry r;
  CounterFamily& f = r.AddCounterFamily("castor_test_unbounded_total", "U.", {"key"});
  for (size_t i = 0; i < CounterFamily::kMaxChildren + 50; ++i) {
    f.WithLabels({std::to_string(i)}).Inc();
  }
  std::string text = r.Render();
  EXPECT_THAT(text, HasSubstr("castor_test_unbounded_total{key=\"overflow\"} 50\n"));
  size_t lines = std::count(text.begin(), text.end(), '\n');
  EXPECT_EQ(lines, 2 + CounterFamily::kMaxChildren + 1);
  EXPECT_THAT(text, Not(HasSubstr("key=\"" + std::to_string(CounterFamily::kMaxChildren) + "\"")));
}

TEST(MetricsRegistry, ConcurrentUpdatesAreAllCounted) {
  Registry r;
  Counter& c = r.AddCounter("castor_test_concurrent_total", "C.");
  HistogramFamily& f =
      r.AddHistogramFamily("castor_test_concurrent_seconds", "C.", {"t"}, LatencyBuckets());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      Histogram& h = f.WithLabels({"x"});
      for (int i = 0; i < 10000; ++i) {
        c.Inc();
        h.Observe(0.001);
      }
    });
  }
  std::thread scraper([&] {
    for (int i = 0; i < 20; ++i) (void)r.Render();
  });
  for (auto& t : threads) t.join();
  scraper.join();
  EXPECT_EQ(c.Value(), 40000u);
  EXPECT_EQ(f.WithLabels({"x"}).Count(), 40000u);
  EXPECT_THAT(r.Render(), HasSubstr("castor_test_concurrent_seconds_count{t=\"x\"} 40000\n"));
}

TEST(MetricsRegistry, EmptyRegistryRendersNothing) {
  Registry r;
  EXPECT_EQ(r.Render(), "");
}

}  // namespace
}  // namespace castor::metrics
