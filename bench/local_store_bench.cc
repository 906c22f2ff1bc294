// Throughput of the file:// blob store against plain file I/O on the same
// filesystem: Put (hash + temp file + rename) vs write(2) of a file, Read
// (ReadAt) vs pread(2), and many small blobs vs as many small files. The
// store lives in $CASTOR_BENCH_DIR (default /dev/shm, so the disk does not
// dominate); compare the *_Local rows to the *_Native rows of one run.
// Verified reads by range: the *_Group/N rows read through stores whose
// readers check groups of N bytes (random 4 KiB reads, sequential 128 KiB
// reads as FUSE sends them), the FirstRead rows the cost of a blob's tree
// (computed by one pass, or loaded from the store as a later process does).
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "bench_data.h"
#include "castore/blob/local_blob_service.h"
#include "castore/testing/temp_dir.h"

namespace {

using castor::castore::LocalBlobService;

std::string Base() {
  const char* d = std::getenv("CASTOR_BENCH_DIR");
  return d && *d ? d : "/dev/shm";
}

struct Fixture {
  explicit Fixture(castor::castore::LocalBlobOptions options = {}) : dir("bench") {
    setenv("TMPDIR", Base().c_str(), 1);
    service = *LocalBlobService::Open(dir.path() + "/store", options);
  }
  castor::castore::testing::TempDir dir;
  std::shared_ptr<LocalBlobService> service;
};

constexpr size_t kBig = 256 << 20;
constexpr size_t kPiece = 1 << 20;

void BM_Put_Local(benchmark::State& state) {
  Fixture f;
  std::string data = RandomBytes(kBig, 1);
  uint64_t round = 0;
  for (auto _ : state) {
    data[0] = static_cast<char>(++round);  // a new blob each time
    auto w = *f.service->OpenWrite();
    for (size_t off = 0; off < data.size(); off += kPiece) {
      (void)w->Write(std::string_view(data).substr(off, kPiece));
    }
    auto d = w->Close();
    if (!d.ok()) state.SkipWithError(std::string(d.status().message()).c_str());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kBig));
}
BENCHMARK(BM_Put_Local)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(4);

void BM_Put_Native(benchmark::State& state) {
  Fixture f;
  std::string data = RandomBytes(kBig, 1);
  uint64_t round = 0;
  for (auto _ : state) {
    std::string tmp = f.dir.path() + "/tmp-" + std::to_string(++round);
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    for (size_t off = 0; off < data.size(); off += kPiece) {
      if (::write(fd, data.data() + off, kPiece) < 0) state.SkipWithError("write");
    }
    ::close(fd);
    ::rename(tmp.c_str(), (f.dir.path() + "/file-" + std::to_string(round)).c_str());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kBig));
}
BENCHMARK(BM_Put_Native)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(4);

// Argument 1: verified reads (OpenRead), 0: the file unchecked.
void BM_Read_Local(benchmark::State& state) {
  Fixture f;
  auto digest = *castor::castore::PutBlob(*f.service, RandomBytes(kBig, 2));
  std::vector<uint8_t> buf(kPiece);
  for (auto _ : state) {
    auto r = state.range(0) ? *f.service->OpenRead(digest) : *f.service->OpenReadUnverified(digest);
    for (uint64_t off = 0; off < kBig; off += kPiece)
      benchmark::DoNotOptimize(*r->ReadAt(off, buf));
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kBig));
}
BENCHMARK(BM_Read_Local)
    ->Arg(1)
    ->Arg(0)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(8);

void BM_Read_Native(benchmark::State& state) {
  Fixture f;
  auto digest = *castor::castore::PutBlob(*f.service, RandomBytes(kBig, 2));
  std::string path = f.service->BlobPath(digest);
  std::vector<uint8_t> buf(kPiece);
  for (auto _ : state) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    for (uint64_t off = 0; off < kBig; off += kPiece) {
      benchmark::DoNotOptimize(::pread(fd, buf.data(), kPiece, static_cast<off_t>(off)));
    }
    ::close(fd);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kBig));
}
BENCHMARK(BM_Read_Native)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(8);

castor::castore::LocalBlobOptions WithGroup(int64_t group) {
  castor::castore::LocalBlobOptions o;
  o.group_size = static_cast<uint64_t>(group);
  return o;
}

// Random 4 KiB reads of a 256 MiB blob whose tree is known (argument: the
// group size; 0: unverified).
void BM_RandomRead4K_Group(benchmark::State& state) {
  Fixture f(WithGroup(state.range(0) == 0 ? 65536 : state.range(0)));
  auto digest = *castor::castore::PutBlob(*f.service, RandomBytes(kBig, 3));
  auto r =
      state.range(0) == 0 ? *f.service->OpenReadUnverified(digest) : *f.service->OpenRead(digest);
  std::vector<uint8_t> buf(4096);
  benchmark::DoNotOptimize(*r->ReadAt(0, buf));  // the tree
  std::mt19937_64 rng(4);
  for (auto _ : state) {
    benchmark::DoNotOptimize(*r->ReadAt((rng() % (kBig / 4096)) * 4096, buf));
  }
}
BENCHMARK(BM_RandomRead4K_Group)
    ->Arg(0)
    ->Arg(4 << 10)
    ->Arg(16 << 10)
    ->Arg(64 << 10)
    ->Arg(256 << 10)
    ->Arg(1 << 20)
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

// Sequential 128 KiB reads (FUSE's usual request size) of a 256 MiB blob.
void BM_SequentialRead128K_Group(benchmark::State& state) {
  Fixture f(WithGroup(state.range(0) == 0 ? 65536 : state.range(0)));
  auto digest = *castor::castore::PutBlob(*f.service, RandomBytes(kBig, 5));
  auto r =
      state.range(0) == 0 ? *f.service->OpenReadUnverified(digest) : *f.service->OpenRead(digest);
  std::vector<uint8_t> buf(128 << 10);
  benchmark::DoNotOptimize(*r->ReadAt(0, buf));  // the tree
  for (auto _ : state) {
    for (uint64_t off = 0; off < kBig; off += buf.size()) {
      benchmark::DoNotOptimize(*r->ReadAt(off, buf));
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kBig));
}
BENCHMARK(BM_SequentialRead128K_Group)
    ->Arg(0)
    ->Arg(4 << 10)
    ->Arg(16 << 10)
    ->Arg(64 << 10)
    ->Arg(256 << 10)
    ->Arg(1 << 20)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(4);

// The first 4 KiB read of a 256 MiB blob in a new process (a new service):
// argument 1 computes its tree (one pass), 0 loads the one kept in the store.
void BM_FirstRead_Local(benchmark::State& state) {
  Fixture f;
  auto digest = *castor::castore::PutBlob(*f.service, RandomBytes(kBig, 6));
  const std::string root = f.service->dir();
  std::vector<uint8_t> buf(4096);
  benchmark::DoNotOptimize(*(*f.service->OpenRead(digest))->ReadAt(kBig / 2, buf));
  for (auto _ : state) {
    state.PauseTiming();
    if (state.range(0) == 1) ::unlink(f.service->OutboardPath(digest).c_str());
    auto later = *LocalBlobService::Open(root);
    state.ResumeTiming();
    benchmark::DoNotOptimize(*(*later->OpenRead(digest))->ReadAt(kBig / 2, buf));
  }
}
BENCHMARK(BM_FirstRead_Local)
    ->Arg(1)
    ->Arg(0)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(4);

constexpr int kSmallCount = 5000;
constexpr size_t kSmall = 4096;

void BM_SmallPut_Local(benchmark::State& state) {
  Fixture f;
  std::string data = RandomBytes(kSmall, 3);
  uint64_t n = 0;
  for (auto _ : state) {
    for (int i = 0; i < kSmallCount; ++i) {
      std::memcpy(data.data(), &++n, sizeof(n));
      (void)castor::castore::PutBlob(*f.service, data);
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * kSmallCount);
}
BENCHMARK(BM_SmallPut_Local)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

void BM_SmallPut_Native(benchmark::State& state) {
  Fixture f;
  std::string data = RandomBytes(kSmall, 3);
  uint64_t n = 0;
  for (auto _ : state) {
    for (int i = 0; i < kSmallCount; ++i) {
      ++n;
      std::string tmp = f.dir.path() + "/t" + std::to_string(n);
      int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (::write(fd, data.data(), data.size()) < 0) state.SkipWithError("write");
      ::close(fd);
      ::rename(tmp.c_str(), (f.dir.path() + "/f" + std::to_string(n)).c_str());
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * kSmallCount);
}
BENCHMARK(BM_SmallPut_Native)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

}  // namespace

BENCHMARK_MAIN();
