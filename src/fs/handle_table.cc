#include "fs/handle_table.h"

namespace castor::fs {

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
