// Test helpers for damaged stores: pseudo-random blob contents, and rot, the
// damage a disk does to a file in place. Header-only; for tests and
// benchmarks; thread-compatible.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <string>

namespace castor::castore::testing {

// `n` pseudo-random bytes (incompressible, distinct per seed).
inline std::string RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string out(n, '\0');
  for (size_t i = 0; i + 8 <= n; i += 8) {
    uint64_t v = rng();
    std::memcpy(out.data() + i, &v, 8);
  }
  for (size_t i = n - n % 8; i < n; ++i) out[i] = static_cast<char>(rng());
  return out;
}

// Inverts `len` bytes at `offset` of the file at `path`, in place (the same
// inode, as rot does): its size stays, every byte in the range changes.
// False when the file cannot be opened or has no such range.
inline bool Rot(const std::string& path, uint64_t offset, size_t len = 1) {
  int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return false;
  std::string bytes(len, '\0');
  bool ok = ::pread(fd, bytes.data(), len, static_cast<off_t>(offset)) == static_cast<ssize_t>(len);
  for (char& c : bytes) c = static_cast<char>(~c);
  ok = ok &&
       ::pwrite(fd, bytes.data(), len, static_cast<off_t>(offset)) == static_cast<ssize_t>(len);
  ::close(fd);
  return ok;
}

}  // namespace castor::castore::testing
