#include "castore/blake3_impl.h"

#include <string>

#include "blake3.h"
#include "gtest/gtest.h"

namespace castor::castore {
namespace {

TEST(Blake3Impl, PicksTheWidestKernelTheCpuHas) {
  Blake3CpuFeatures all{
      .sse2 = true, .sse41 = true, .avx2 = true, .avx512f = true, .avx512vl = true};
  EXPECT_EQ(Blake3ImplementationFor(all), "avx512");
}

TEST(Blake3Impl, NeedsBothAvx512FoundationAndVectorLength) {
  Blake3CpuFeatures f{.sse2 = true, .sse41 = true, .avx2 = true, .avx512f = true};
  EXPECT_EQ(Blake3ImplementationFor(f), "avx2");
  f.avx512f = false;
  f.avx512vl = true;
  EXPECT_EQ(Blake3ImplementationFor(f), "avx2");
}

TEST(Blake3Impl, FallsBackThroughSse41AndSse2ToPortable) {
  EXPECT_EQ(Blake3ImplementationFor({.sse2 = true, .sse41 = true}), "sse41");
  EXPECT_EQ(Blake3ImplementationFor({.sse2 = true}), "sse2");
  EXPECT_EQ(Blake3ImplementationFor({}), "portable");
}

TEST(Blake3Impl, DescriptionNamesTheLibraryVersionAndKernel) {
  std::string d = Blake3Description();
  EXPECT_EQ(d,
            std::string("blake3 ") + blake3_version() + ", " + std::string(Blake3Implementation()));
#if defined(__x86_64__)
  // x86-64 always has SSE2.
  EXPECT_NE(Blake3Implementation(), "portable");
#endif
}

}  // namespace
}  // namespace castor::castore
