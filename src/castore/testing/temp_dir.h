// Test helpers for persistent backends: a temporary directory removed (with
// everything in it) when the last owner goes, and a way to tie a service's
// lifetime to such a directory. Header-only; for tests and benchmarks.
// TempDir is thread-compatible.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>
#include <utility>

#include "base/status.h"

namespace castor::castore::testing {

class TempDir {
 public:
  // A fresh directory named castor-<prefix>-XXXXXX under `base`, by default
  // $TMPDIR (else /tmp).
  explicit TempDir(const std::string& prefix = "test", const std::string& base = "") {
    const char* env = std::getenv("TMPDIR");
    const std::string under = !base.empty() ? base : (env && *env ? env : "/tmp");
    std::string tmpl = under + "/castor-" + prefix + "-XXXXXX";
    CASTOR_CHECK(::mkdtemp(tmpl.data()) != nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // PATH/rel.
  std::string operator/(const std::string& rel) const { return path_ + "/" + rel; }

 private:
  std::string path_;
};

// Returns `make(dir)` for a fresh TempDir; the directory is removed after the
// returned service (and every copy of the pointer) is gone.
template <typename Service, typename Make>
std::shared_ptr<Service> InTempDir(const std::string& prefix, Make make) {
  struct Holder {
    TempDir dir;  // declared first: destroyed after the service
    std::shared_ptr<Service> service;
    explicit Holder(const std::string& p) : dir(p) {}
  };
  auto holder = std::make_shared<Holder>(prefix);
  holder->service = make(holder->dir.path());
  if (holder->service == nullptr) return nullptr;
  Service* raw = holder->service.get();
  return std::shared_ptr<Service>(std::move(holder), raw);
}

}  // namespace castor::castore::testing
