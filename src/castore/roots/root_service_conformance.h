// The RootService conformance suite: what every RootService backend must do
// (get/put/replace/remove of named roots of all three node kinds, listing
// sorted bytewise). Parameterized over a factory of fresh, empty services.
//
// How to run it against a backend: compile root_service_conformance.cc into
// the test binary as a SOURCE (not through a static library: the linker would
// drop the test registrations), link GTest, and instantiate it:
//
//   #include "castore/roots/root_service_conformance.h"
//   namespace castor::castore {
//   INSTANTIATE_TEST_SUITE_P(
//       Memory, RootServiceConformance,
//       ::testing::Values(RootBackend{
//           "memory", [] { return std::make_shared<MemoryRootService>(); }}),
//       BackendName);
//   }
//
// `make` is called once per test and must return a fresh EMPTY service (a
// persistent backend: a new temporary directory per call, removed when the
// service goes, see castore/testing/temp_dir.h; a remote backend: a server
// with an empty store kept alive by the returned pointer).
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include "castore/roots/root_service.h"
#include "castore/testing/conformance.h"

namespace castor::castore {

struct RootBackend {
  std::string name;
  std::function<std::shared_ptr<RootService>()> make;
};
// gtest prints the parameter as the backend's name (test lists, ctest).
inline void PrintTo(const RootBackend& backend, std::ostream* os) { *os << backend.name; }

class RootServiceConformance : public ::testing::TestWithParam<RootBackend> {
 protected:
  void SetUp() override;
  void TearDown() override { service_.reset(); }
  RootService& service() { return *service_; }

  std::shared_ptr<RootService> service_;
};

}  // namespace castor::castore
