// Shared bits of the conformance suites (blob, directory, root): the test-name
// generator. Header-only; for tests.
#pragma once

#include <gtest/gtest.h>

#include <string>

namespace castor::castore {

// Names each instantiation after its backend's `name` field. Use it as the
// last argument of INSTANTIATE_TEST_SUITE_P:
//   INSTANTIATE_TEST_SUITE_P(Lmdb, DirectoryServiceConformance,
//                            ::testing::Values(DirectoryBackend{"lmdb", ...}),
//                            BackendName);
struct BackendNameFn {
  template <typename Param>
  std::string operator()(const ::testing::TestParamInfo<Param>& info) const {
    return info.param.name;
  }
};
inline constexpr BackendNameFn BackendName{};

}  // namespace castor::castore
