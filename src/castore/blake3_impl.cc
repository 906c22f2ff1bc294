#include "castore/blake3_impl.h"

#include "blake3.h"

namespace castor::castore {

Blake3CpuFeatures DetectBlake3CpuFeatures() {
  Blake3CpuFeatures f;
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  f.sse2 = __builtin_cpu_supports("sse2");
  f.sse41 = __builtin_cpu_supports("sse4.1");
  f.avx2 = __builtin_cpu_supports("avx2");
  f.avx512f = __builtin_cpu_supports("avx512f");
  f.avx512vl = __builtin_cpu_supports("avx512vl");
#endif
  return f;
}

std::string_view Blake3ImplementationFor(const Blake3CpuFeatures& f) {
  // The order of blake3_hash_many in blake3_dispatch.c.
#if !defined(BLAKE3_NO_AVX512)
  if (f.avx512f && f.avx512vl) return "avx512";
#endif
#if !defined(BLAKE3_NO_AVX2)
  if (f.avx2) return "avx2";
#endif
#if !defined(BLAKE3_NO_SSE41)
  if (f.sse41) return "sse41";
#endif
#if !defined(BLAKE3_NO_SSE2)
  if (f.sse2) return "sse2";
#endif
  (void)f;
  return "portable";
}

std::string_view Blake3Implementation() {
  static const std::string_view kImpl = Blake3ImplementationFor(DetectBlake3CpuFeatures());
  return kImpl;
}

std::string Blake3Description() {
  return std::string("blake3 ") + blake3_version() + ", " + std::string(Blake3Implementation());
}

}  // namespace castor::castore
