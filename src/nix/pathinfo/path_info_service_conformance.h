// The PathInfoService conformance suite: what every backend must do (get,
// put, replace and list path infos with every field set, all node kinds,
// concurrent use). Parameterized over a factory of fresh, empty services.
// Compile path_info_service_conformance.cc into the test binary as a SOURCE
// (a static library would drop the registrations) and instantiate it, as for
// castore's suites (castore/roots/root_service_conformance.h):
//
//   INSTANTIATE_TEST_SUITE_P(Memory, PathInfoServiceConformance,
//       ::testing::Values(PathInfoBackend{
//           "memory", [] { return std::make_shared<MemoryPathInfoService>(); }}),
//       castore::BackendName);
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include "castore/testing/conformance.h"
#include "nix/pathinfo/path_info_service.h"

namespace castor::nix {

struct PathInfoBackend {
  std::string name;
  std::function<std::shared_ptr<PathInfoService>()> make;
};
inline void PrintTo(const PathInfoBackend& backend, std::ostream* os) { *os << backend.name; }

class PathInfoServiceConformance : public ::testing::TestWithParam<PathInfoBackend> {
 protected:
  void SetUp() override;
  void TearDown() override { service_.reset(); }
  PathInfoService& service() { return *service_; }

  std::shared_ptr<PathInfoService> service_;
};

}  // namespace castor::nix
