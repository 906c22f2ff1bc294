// The DirectoryService conformance suite: what every DirectoryService
// backend must do (round trips of the reference Directories, absence,
// closure checks on Put, all-or-nothing putters, breadth-first GetRecursive,
// enumeration and deletion). Parameterized over a factory of fresh, empty
// services.
//
// How to run it against a backend: compile directory_service_conformance.cc
// into the test binary as a SOURCE (not through a static library: the linker
// would drop the test registrations), link GTest, and instantiate it:
//
//   #include "castore/directory/directory_service_conformance.h"
//   namespace castor::castore {
//   INSTANTIATE_TEST_SUITE_P(
//       Memory, DirectoryServiceConformance,
//       ::testing::Values(DirectoryBackend{
//           "memory", [] { return std::make_shared<MemoryDirectoryService>(); }}),
//       BackendName);
//   }
//
// `make` is called once per test and must return a fresh EMPTY service (a
// persistent backend: a new temporary directory per call, removed when the
// service goes, see castore/testing/temp_dir.h; a remote backend: a server
// with an empty store kept alive by the returned pointer). Tests needing
// ForEach/Delete are skipped when the backend returns Unimplemented.
//
// Putter contract checked here: a Put that fails poisons the putter (Close
// then fails and stores nothing); a backend that can only detect the error
// at Close (a streaming client) may return OK from Put, but Close must fail.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include "castore/directory/directory_service.h"
#include "castore/testing/conformance.h"

namespace castor::castore {

struct DirectoryBackend {
  std::string name;
  std::function<std::shared_ptr<DirectoryService>()> make;
};
// gtest prints the parameter as the backend's name (test lists, ctest).
inline void PrintTo(const DirectoryBackend& backend, std::ostream* os) { *os << backend.name; }

class DirectoryServiceConformance : public ::testing::TestWithParam<DirectoryBackend> {
 protected:
  void SetUp() override;
  void TearDown() override { service_.reset(); }
  DirectoryService& service() { return *service_; }

  std::shared_ptr<DirectoryService> service_;
};

}  // namespace castor::castore
