// Hashing throughput of castor's Blake3Hasher (the official C implementation
// with run-time SIMD dispatch) and of its GroupHasher (digest and 16 KiB
// group CVs in one pass) over 1 GiB in memory, as one update and in the
// piece sizes castor's writers use. bench/blake3_vs_b3sum.sh runs it next to
// `b3sum --num-threads 1` on the same bytes.
//
// CASTOR_BENCH_FILE=path hashes that file's contents instead of 1 GiB of
// pseudo-random bytes, and enables BM_Blake3Mmap.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "bench_data.h"
#include "castore/blake3_tree.h"
#include "castore/digest.h"

namespace {

// Hashes the data in pieces of state.range(0) bytes (0: one update).
void BM_Blake3(benchmark::State& state) {
  std::string_view data = BenchData();
  const size_t piece = state.range(0) == 0 ? data.size() : static_cast<size_t>(state.range(0));
  std::string hex;
  for (auto _ : state) {
    castor::castore::Blake3Hasher hasher;
    for (size_t off = 0; off < data.size(); off += piece) {
      hasher.Update(data.substr(off, piece));
    }
    auto digest = hasher.Finalize();
    benchmark::DoNotOptimize(digest);
    hex = digest.ToHex();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(data.size()));
  state.SetLabel(hex);
}
BENCHMARK(BM_Blake3)
    ->Arg(0)
    ->Arg(1 << 20)
    ->Arg(64 << 10)
    ->Arg(4 << 20)
    ->Unit(benchmark::kMillisecond)
    ->MinTime(2.0)
    ->UseRealTime();

// The importer's and the local store's writers' hash: a GroupHasher with the
// store's 16 KiB groups, which yields the digest and the group CVs (the
// blob's outboard) in one pass; pieces of state.range(0) bytes as BM_Blake3.
void BM_GroupHasher(benchmark::State& state) {
  std::string_view data = BenchData();
  const size_t piece = state.range(0) == 0 ? data.size() : static_cast<size_t>(state.range(0));
  castor::castore::blake3_tree::GroupHasher hasher(castor::castore::blake3_tree::kDefaultGroupSize);
  std::string hex;
  for (auto _ : state) {
    for (size_t off = 0; off < data.size(); off += piece) {
      std::string_view p = data.substr(off, piece);
      hasher.Update(std::span(reinterpret_cast<const uint8_t*>(p.data()), p.size()));
    }
    auto result = hasher.Finish();
    benchmark::DoNotOptimize(result);
    hex = result.digest.ToHex();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(data.size()));
  state.SetLabel(hex);
}
BENCHMARK(BM_GroupHasher)
    ->Arg(0)
    ->Arg(1 << 20)
    ->Arg(64 << 10)
    ->Arg(4 << 20)
    ->Unit(benchmark::kMillisecond)
    ->MinTime(2.0)
    ->UseRealTime();

// What b3sum does with a file: mmap it (pages faulted in while hashing),
// hash it in one update, unmap. Only with CASTOR_BENCH_FILE.
void BM_Blake3Mmap(benchmark::State& state) {
  const char* file = std::getenv("CASTOR_BENCH_FILE");
  if (file == nullptr || *file == '\0') {
    state.SkipWithError("set CASTOR_BENCH_FILE");
    return;
  }
  int fd = ::open(file, O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || ::fstat(fd, &st) != 0 || st.st_size == 0) {
    state.SkipWithError("cannot open CASTOR_BENCH_FILE");
    if (fd >= 0) ::close(fd);
    return;
  }
  size_t size = static_cast<size_t>(st.st_size);
  std::string hex;
  for (auto _ : state) {
    void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
      state.SkipWithError("mmap failed");
      break;
    }
    castor::castore::Blake3Hasher hasher;
    hasher.Update(std::string_view(static_cast<const char*>(map), size));
    auto digest = hasher.Finalize();
    benchmark::DoNotOptimize(digest);
    ::munmap(map, size);
    hex = digest.ToHex();
  }
  ::close(fd);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(size));
  state.SetLabel(hex);
}
BENCHMARK(BM_Blake3Mmap)->Unit(benchmark::kMillisecond)->MinTime(2.0)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
