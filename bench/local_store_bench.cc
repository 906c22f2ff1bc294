// Throughput of the file:// blob store against plain file I/O on the same
// filesystem: Put (hash + temp file + rename) vs write(2) of a file, Read
// (ReadAt) vs pread(2), and many small blobs vs as many small files. The
// store lives in $CASTOR_BENCH_DIR (default /dev/shm, so the disk does not
// dominate); compare the *_Local rows to the *_Native rows of one run.
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
  Fixture() : dir("bench") {
    setenv("TMPDIR", Base().c_str(), 1);
    service = *LocalBlobService::Open(dir.path() + "/store");
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

void BM_Read_Local(benchmark::State& state) {
  Fixture f;
  auto digest = *castor::castore::PutBlob(*f.service, RandomBytes(kBig, 2));
  std::vector<uint8_t> buf(kPiece);
  for (auto _ : state) {
    auto r = *f.service->OpenRead(digest);
    for (uint64_t off = 0; off < kBig; off += kPiece)
      benchmark::DoNotOptimize(*r->ReadAt(off, buf));
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kBig));
}
BENCHMARK(BM_Read_Local)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(8);

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
