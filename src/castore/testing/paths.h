// Where tests find the built `castor` binary and tests/data. castor_test()
// compiles both paths into every test binary; the environment variables
// CASTOR_BIN and CASTOR_TEST_DATA override them (to test another build).
// Header-only; thread-safe.
#pragma once

#include <cstdlib>
#include <string>

namespace castor::castore::testing {

inline std::string CastorBinary() {
  const char* env = std::getenv("CASTOR_BIN");
  return env != nullptr && *env != '\0' ? env : CASTOR_BIN_PATH;
}

inline std::string TestDataDir() {
  const char* env = std::getenv("CASTOR_TEST_DATA");
  return env != nullptr && *env != '\0' ? env : CASTOR_TEST_DATA_DIR;
}

}  // namespace castor::castore::testing
