#include "fs/handle_table.h"

#include <string>

#include "spdlog/spdlog.h"

namespace castor::fs {

PassthroughBacking::PassthroughBacking(std::shared_ptr<fuse::BackingFiles> files, int32_t id,
                                       metrics::Gauge* registered)
    : files_(std::move(files)), id_(id), registered_(registered) {
  if (id_ > 0 && registered_ != nullptr) registered_->Add(1);
}

PassthroughBacking::~PassthroughBacking() {
  if (id_ <= 0) return;
  if (registered_ != nullptr) registered_->Add(-1);
  if (files_ == nullptr) return;
  // A connection already gone took its ids with it.
  absl::Status s = files_->Close(id_);
  if (!s.ok()) spdlog::debug("FUSE passthrough: closing backing id {}: {}", id_, s.ToString());
}

DirHandle::DirHandle(uint64_t ino, std::shared_ptr<const std::vector<castore::Entry>> roots)
    : ino_(ino), is_top_(true), roots_(std::move(roots)) {}

DirHandle::DirHandle(uint64_t ino, const castore::B3Digest& digest, uint64_t size)
    : ino_(ino), is_top_(false), digest_(digest), size_(size) {}

std::shared_ptr<const castore::Directory> DirHandle::directory() const {
  castor::MutexLock lock(&mu_);
  return directory_;
}

void DirHandle::set_directory(std::shared_ptr<const castore::Directory> directory) {
  castor::MutexLock lock(&mu_);
  directory_ = std::move(directory);
}

}  // namespace castor::fs
