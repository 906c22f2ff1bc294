// Which BLAKE3 the process hashes with: the C library's version and the
// SIMD kernel its run-time dispatch picks on this CPU (for `castor
// --version` and bug reports). The library does not export its choice, so
// it is worked out here the same way, in the same order. Thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace castor::castore {

// The CPU features BLAKE3's dispatch looks at (x86-64).
struct Blake3CpuFeatures {
  bool sse2 = false;
  bool sse41 = false;
  bool avx2 = false;
  bool avx512f = false;
  bool avx512vl = false;
};

// This CPU's features (all false off x86).
Blake3CpuFeatures DetectBlake3CpuFeatures();

// The kernel BLAKE3's dispatch picks given `features`: "avx512", "avx2",
// "sse41", "sse2" or "portable", skipping the kernels the build compiled
// out (BLAKE3_NO_AVX512, BLAKE3_NO_AVX2, ...).
std::string_view Blake3ImplementationFor(const Blake3CpuFeatures& features);

// The kernel in use on this CPU.
std::string_view Blake3Implementation();

// "blake3 <library version>, <kernel>", e.g. "blake3 1.3.1, avx512".
std::string Blake3Description();

}  // namespace castor::castore
