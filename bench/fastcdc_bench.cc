// FastCDC throughput (snix's parameters: 128 / 256 / 512 KiB) over 1 GiB in
// memory, next to BLAKE3 over the same bytes: a blob writer does both, so
// the chunker should cost less than the hash. bench/fastcdc_vs_b3sum.sh also
// runs `b3sum --num-threads 1` on the same bytes.
//   BM_FastCdcBoundaries  FastCdc::Scan over the whole buffer (no copies)
//   BM_FastCdcChunker     FastCdcChunker fed 64 KiB writes (buffers each chunk)
//   BM_Blake3             castor's BLAKE3, one update
// CASTOR_BENCH_FILE=path uses that file's bytes instead.
#include <benchmark/benchmark.h>

#include <span>

#include "bench_data.h"
#include "castore/digest.h"
#include "chunking/fastcdc.h"

namespace {

using castor::chunking::FastCdc;
using castor::chunking::FastCdcChunker;
using castor::chunking::FastCdcParams;

std::span<const uint8_t> Bytes() {
  std::string_view data = BenchData();
  return {reinterpret_cast<const uint8_t*>(data.data()), data.size()};
}

void Finish(benchmark::State& state, size_t chunks) {
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(Bytes().size()));
  state.counters["chunks"] = static_cast<double>(chunks);
  state.counters["avg_KiB"] = static_cast<double>(Bytes().size()) / chunks / 1024.0;
}

void BM_FastCdcBoundaries(benchmark::State& state) {
  std::span<const uint8_t> data = Bytes();
  FastCdc cdc = *FastCdc::Create(FastCdcParams::Snix());
  size_t chunks = 0;
  for (auto _ : state) {
    chunks = 0;
    std::span<const uint8_t> rest = data;
    while (!rest.empty()) {
      FastCdc::ScanResult r = cdc.Scan(rest);
      chunks += r.chunk_end.has_value();
      rest = rest.subspan(r.consumed);
    }
    chunks += cdc.Finish().has_value();
  }
  Finish(state, chunks);
}
BENCHMARK(BM_FastCdcBoundaries)->Unit(benchmark::kMillisecond)->MinTime(2.0)->UseRealTime();

void BM_FastCdcChunker(benchmark::State& state) {
  std::span<const uint8_t> data = Bytes();
  FastCdcChunker chunker(*FastCdc::Create(FastCdcParams::Snix()));
  size_t chunks = 0;
  auto count = [&](std::span<const uint8_t> chunk) {
    benchmark::DoNotOptimize(chunk.data());
    ++chunks;
    return absl::OkStatus();
  };
  constexpr size_t kWrite = 64 << 10;
  for (auto _ : state) {
    chunks = 0;
    for (size_t off = 0; off < data.size(); off += kWrite) {
      (void)chunker.Write(data.subspan(off, std::min(kWrite, data.size() - off)), count);
    }
    (void)chunker.Finish(count);
  }
  Finish(state, chunks);
}
BENCHMARK(BM_FastCdcChunker)->Unit(benchmark::kMillisecond)->MinTime(2.0)->UseRealTime();

void BM_Blake3(benchmark::State& state) {
  std::string_view data = BenchData();
  for (auto _ : state) {
    castor::castore::Blake3Hasher hasher;
    hasher.Update(data);
    auto digest = hasher.Finalize();
    benchmark::DoNotOptimize(digest);
    state.SetLabel(digest.ToHex());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(data.size()));
}
BENCHMARK(BM_Blake3)->Unit(benchmark::kMillisecond)->MinTime(2.0)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
