// Benchmark data: BenchData(), the bytes the throughput benchmarks work on: CASTOR_BENCH_FILE
// mapped and faulted in once (no copy, so the file costs its memory only once), else 1 GiB of
// pseudo-random bytes (the same in every run); RandomBytes(), a pseudo-random buffer of any size.
// Header-only, for benchmarks; thread-safe.
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <string_view>

inline std::string_view BenchData() {
  static const std::string_view data = [] {
    if (const char* file = std::getenv("CASTOR_BENCH_FILE"); file && *file) {
      int fd = ::open(file, O_RDONLY | O_CLOEXEC);
      struct stat st;
      if (fd < 0 || ::fstat(fd, &st) != 0 || st.st_size == 0) {
        std::fprintf(stderr, "CASTOR_BENCH_FILE=%s: empty or unreadable\n", file);
        std::exit(1);
      }
      size_t size = static_cast<size_t>(st.st_size);
      void* map = ::mmap(nullptr, size, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, 0);
      ::close(fd);
      if (map == MAP_FAILED) {
        std::perror("mmap CASTOR_BENCH_FILE");
        std::exit(1);
      }
      return std::string_view(static_cast<const char*>(map), size);
    }
    auto* out = new std::string(size_t{1} << 30, '\0');
    std::mt19937_64 rng(42);
    auto* words = reinterpret_cast<uint64_t*>(out->data());
    for (size_t i = 0; i < out->size() / 8; ++i) words[i] = rng();
    return std::string_view(*out);
  }();
  return data;
}

inline std::string RandomBytes(size_t n, uint64_t seed) {
  std::string out(n, '\0');
  std::mt19937_64 rng(seed);
  for (size_t i = 0; i + 8 <= n; i += 8) {
    uint64_t w = rng();
    std::memcpy(out.data() + i, &w, 8);
  }
  return out;
}
