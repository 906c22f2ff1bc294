// S3Client against a throw-away Ceph RGW on loopback (started here with
// scripts/ceph-rgw.sh, memstore OSD): latency of small GETs and PUTs, the
// throughput of a 64 MiB upload (multipart, parts in parallel, and as one
// PUT), and of parallel GETs. Prints one line per figure.
//   usage: s3_bench [ROUNDS]   (default 3; the best round counts)
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "bench_data.h"
#include "s3/testing/ceph_cluster.h"

namespace {

using castor::s3::S3Client;
using castor::s3::S3ClientOptions;
using castor::s3::testing::CephCluster;
using castor::s3::testing::TestBucket;

void Check(const absl::Status& s, const char* what) {
  if (!s.ok()) {
    std::fprintf(stderr, "%s: %s\n", what, std::string(s.message()).c_str());
    std::exit(1);
  }
}

double Ms(absl::Duration d) { return absl::ToDoubleMilliseconds(d); }

// Median and 99th percentile of `n` sequential calls of `op`, in ms.
template <typename Op>
std::pair<double, double> Latency(int n, Op op) {
  std::vector<double> ms;
  for (int i = 0; i < n; ++i) {
    absl::Time t = absl::Now();
    op(i);
    ms.push_back(Ms(absl::Now() - t));
  }
  std::sort(ms.begin(), ms.end());
  return {ms[ms.size() / 2], ms[ms.size() * 99 / 100]};
}

}  // namespace

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::atoi(argv[1]) : 3;
  auto cluster = CephCluster::Start();
  Check(cluster.status(), "starting the cluster");
  auto bucket = TestBucket::Create((*cluster)->endpoint());
  Check(bucket.status(), "creating a bucket");
  auto client = (*bucket)->Client({.max_connections = 32,
                                   .multipart_threshold = 16 << 20,
                                   .part_size = 8 << 20,
                                   .multipart_concurrency = 4});
  Check(client.status(), "client");
  auto single = (*bucket)->Client({.multipart_threshold = uint64_t{1} << 40});
  Check(single.status(), "client");
  S3Client& s3 = **client;

  const std::string small = RandomBytes(4096, 1);
  for (int i = 0; i < 200; ++i) Check(s3.Put(absl::StrCat("small/", i), small).status(), "put");

  double best_get50 = 1e9, best_get99 = 1e9, best_put50 = 1e9, best_put99 = 1e9;
  double best_mp = 0, best_single = 0, best_par = 0, best_small_ops = 0;
  const std::string big = RandomBytes(64 << 20, 2);
  for (int r = 0; r < rounds; ++r) {
    auto [g50, g99] = Latency(
        500, [&](int i) { Check(s3.Get(absl::StrCat("small/", i % 200)).status(), "get"); });
    auto [p50, p99] = Latency(
        500, [&](int i) { Check(s3.Put(absl::StrCat("small-put/", i), small).status(), "put"); });
    best_get50 = std::min(best_get50, g50);
    best_get99 = std::min(best_get99, g99);
    best_put50 = std::min(best_put50, p50);
    best_put99 = std::min(best_put99, p99);

    absl::Time t = absl::Now();
    Check(s3.Put("big-multipart", big).status(), "multipart put");
    best_mp = std::max(best_mp, 64.0 / absl::ToDoubleSeconds(absl::Now() - t));
    t = absl::Now();
    Check((*single)->Put("big-single", big).status(), "single put");
    best_single = std::max(best_single, 64.0 / absl::ToDoubleSeconds(absl::Now() - t));

    // 16 objects of 4 MiB read by 8 threads, 4 times each.
    if (r == 0) {
      for (int i = 0; i < 16; ++i) {
        Check(s3.Put(absl::StrCat("mid/", i), big.substr(i << 22, 4 << 20)).status(), "put");
      }
    }
    std::atomic<int> next{0};
    std::vector<std::thread> threads;
    t = absl::Now();
    for (int k = 0; k < 8; ++k) {
      threads.emplace_back([&] {
        for (int i; (i = next++) < 64;) Check(s3.Get(absl::StrCat("mid/", i % 16)).status(), "get");
      });
    }
    for (auto& th : threads) th.join();
    best_par = std::max(best_par, 256.0 / absl::ToDoubleSeconds(absl::Now() - t));

    // 4 KiB GETs from 16 threads.
    next = 0;
    threads.clear();
    t = absl::Now();
    for (int k = 0; k < 16; ++k) {
      threads.emplace_back([&] {
        for (int i; (i = next++) < 4000;) {
          Check(s3.Get(absl::StrCat("small/", i % 200)).status(), "get");
        }
      });
    }
    for (auto& th : threads) th.join();
    best_small_ops = std::max(best_small_ops, 4000.0 / absl::ToDoubleSeconds(absl::Now() - t));
  }
  std::printf("4 KiB GET latency, one thread        median %.2f ms  p99 %.2f ms\n", best_get50,
              best_get99);
  std::printf("4 KiB PUT latency, one thread        median %.2f ms  p99 %.2f ms\n", best_put50,
              best_put99);
  std::printf("4 KiB GETs, 16 threads               %.0f requests/s\n", best_small_ops);
  std::printf("64 MiB PUT, multipart 8x8 MiB (4 at once)  %.0f MiB/s\n", best_mp);
  std::printf("64 MiB PUT, one request                    %.0f MiB/s\n", best_single);
  std::printf("4 MiB GETs, 8 threads                      %.0f MiB/s\n", best_par);
  std::printf("(best of %d rounds; connections opened: %llu)\n", rounds,
              static_cast<unsigned long long>(s3.stats().connections));
  return 0;
}
