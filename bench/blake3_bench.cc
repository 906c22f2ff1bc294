// Hashing throughput of castor's Blake3Hasher (the official C implementation
// with run-time SIMD dispatch) over 1 GiB in memory, as one update and in the
// piece sizes castor's writers use. bench/blake3_vs_b3sum.sh runs it next to
// `b3sum --num-threads 1` on the same bytes.
//
// CASTOR_BENCH_FILE=path hashes that file's contents (read into memory once)
// instead of 1 GiB of pseudo-random bytes.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <random>
#include <string>

#include "castore/digest.h"

namespace {

const std::string& Data() {
  static const std::string* data = [] {
    auto* out = new std::string;
    if (const char* file = std::getenv("CASTOR_BENCH_FILE"); file && *file) {
      std::ifstream in(file, std::ios::binary);
      out->assign(std::istreambuf_iterator<char>(in), {});
      if (out->empty()) {
        std::fprintf(stderr, "CASTOR_BENCH_FILE=%s: empty or unreadable\n", file);
        std::exit(1);
      }
    } else {
      out->resize(size_t{1} << 30);
      std::mt19937_64 rng(42);
      auto* words = reinterpret_cast<uint64_t*>(out->data());
      for (size_t i = 0; i < out->size() / 8; ++i) words[i] = rng();
    }
    return out;
  }();
  return *data;
}

// Hashes the data in pieces of state.range(0) bytes (0: one update).
void BM_Blake3(benchmark::State& state) {
  const std::string& data = Data();
  const size_t piece = state.range(0) == 0 ? data.size() : static_cast<size_t>(state.range(0));
  std::string hex;
  for (auto _ : state) {
    castor::castore::Blake3Hasher hasher;
    for (size_t off = 0; off < data.size(); off += piece) {
      hasher.Update(std::string_view(data).substr(off, piece));
    }
    auto digest = hasher.Finalize();
    benchmark::DoNotOptimize(digest);
    hex = digest.ToHex();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(data.size()));
  state.SetLabel(hex);
}
BENCHMARK(BM_Blake3)->Arg(0)->Arg(1 << 20)->Arg(64 << 10)->Unit(benchmark::kMillisecond)
    ->MinTime(2.0)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
