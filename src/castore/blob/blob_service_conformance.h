// The BlobService conformance suite: what every BlobService backend must do
// (round trips, random access, atomic visibility, concurrent writers and
// readers, chunks, enumeration, deletion, verification). Parameterized over a
// factory of fresh, empty services.
//
// How to run it against a backend: compile blob_service_conformance.cc into
// the test binary as a SOURCE (not through a static library: the linker would
// drop the test registrations), link GTest, and instantiate it:
//
//   #include "castore/blob/blob_service_conformance.h"
//   namespace castor::castore {
//   INSTANTIATE_TEST_SUITE_P(
//       Memory, BlobServiceConformance,
//       ::testing::Values(BlobBackend{
//           "memory", [] { return std::make_shared<MemoryBlobService>(); }}),
//       BackendName);
//   }
//
// `make` is called once per test and must return a fresh EMPTY service. A
// persistent backend uses a new temporary directory per call and removes it
// when the service goes (castore/testing/temp_dir.h: InTempDir). A remote
// backend starts (or connects to) a server with an empty store per call and
// keeps it alive as long as the returned pointer (e.g. with an aliasing
// shared_ptr). The backend must check prehashed writers' digests (a
// LocalBlobService is opened with verify_prehashed). Tests of ForEach/Delete are skipped when the
// backend returns Unimplemented for them. `name` must be alphanumeric/underscore (it becomes part
// of the test name).
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include "castore/blob/blob_service.h"
#include "castore/testing/conformance.h"

namespace castor::castore {

struct BlobBackend {
  std::string name;
  std::function<std::shared_ptr<BlobService>()> make;
};
// gtest prints the parameter as the backend's name (test lists, ctest).
inline void PrintTo(const BlobBackend& backend, std::ostream* os) { *os << backend.name; }

class BlobServiceConformance : public ::testing::TestWithParam<BlobBackend> {
 protected:
  void SetUp() override;
  void TearDown() override { service_.reset(); }
  BlobService& service() { return *service_; }

  std::shared_ptr<BlobService> service_;
};

}  // namespace castor::castore
