// The Nix golden files under tests/data/nix (see the README there).
// Header-only, for tests; thread-safe.
#pragma once

#include <string>

#include "castore/testing/paths.h"
#include "castore/testing/subprocess.h"

namespace castor::nix::testing {

// The bytes of tests/data/nix/NAME.
inline std::string GoldenFile(const std::string& name) {
  return castore::testing::SlurpFile(castore::testing::TestDataDir() + "/nix/" + name);
}

// The same without trailing newlines (keys are one line).
inline std::string GoldenLine(const std::string& name) {
  std::string s = GoldenFile(name);
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

}  // namespace castor::nix::testing
