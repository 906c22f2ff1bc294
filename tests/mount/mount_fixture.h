// Test helpers for real FUSE mounts inside the test process: a tree builder
// over the memory services, MountedFs, which mounts a CastoreFs on a fresh
// temporary directory and always unmounts and removes it again, and ReadAll.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "castore/blob/memory_blob_service.h"
#include "castore/directory/memory_directory_service.h"
#include "castore/roots/memory_root_service.h"
#include "castore/testing/files.h"
#include "fs/castore_fs.h"
#include "fs/fuse/dispatcher.h"
#include "fs/fuse/session.h"
#include "fs/transport/dev_backing_files.h"
#include "fs/transport/dev_fuse.h"
#include "gtest/gtest.h"

namespace castor::testing {

inline castore::Services MemoryServices() {
  castore::Services s;
  s.blobs = std::make_shared<castore::MemoryBlobService>();
  s.directories = std::make_shared<castore::MemoryDirectoryService>();
  s.roots = std::make_shared<castore::MemoryRootService>();
  return s;
}

inline castore::PathComponent Name(std::string_view n) {
  auto pc = castore::PathComponent::Create(n);
  CASTOR_CHECK(pc.ok());
  return *pc;
}

inline castore::FileNode PutFile(castore::Services& s, std::string_view data,
                                 bool executable = false) {
  auto d = castore::PutBlob(*s.blobs, data);
  CASTOR_CHECK(d.ok());
  return castore::FileNode{*d, data.size(), executable};
}

inline castore::SymlinkNode Symlink(std::string_view target) {
  auto t = castore::SymlinkTarget::Create(target);
  CASTOR_CHECK(t.ok());
  return castore::SymlinkNode{*t};
}

inline castore::DirectoryNode PutDir(castore::Services& s, std::vector<castore::Entry> entries) {
  auto dir = castore::Directory::Create(std::move(entries));
  CASTOR_CHECK(dir.ok());
  CASTOR_CHECK(s.directories->Put(*dir).ok());
  return castore::DirectoryNode{dir->digest(), dir->size()};
}

inline void PutRoot(castore::Services& s, std::string_view name, castore::Node node) {
  CASTOR_CHECK(s.roots->Put(castore::Entry{Name(name), std::move(node)}).ok());
}

// The transport the mount tests use: CASTOR_MOUNT_TRANSPORT (the variable
// `castor mount --transport` also reads) when set, else /dev/fuse. CTest
// runs the mount tests once plainly and once with it set to "uring".
inline fs::transport::Transport TransportFromEnvironment() {
  const char* t = std::getenv("CASTOR_MOUNT_TRANSPORT");
  std::string v = t == nullptr ? "" : t;
  if (v == "uring") return fs::transport::Transport::kUring;
  if (v == "auto") return fs::transport::Transport::kAuto;
  return fs::transport::Transport::kDev;
}

class MountedFs {
 public:
  struct Options {
    fs::FsOptions fs;
    int threads = 2;
    bool force_fusermount = false;
    // Ask the kernel for FUSE passthrough; blob files are registered on the
    // connection (DevBackingFiles) unless fs.backing_files is given.
    bool passthrough = false;
    fs::transport::Transport transport = TransportFromEnvironment();
  };

  // Mounts, or returns null after recording a test failure.
  static std::unique_ptr<MountedFs> Mount(castore::Services services, Options options) {
    std::unique_ptr<MountedFs> m(new MountedFs);
    char tmpl[] = "/tmp/castor-mount-test-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) {
      ADD_FAILURE() << "mkdtemp failed";
      return nullptr;
    }
    m->dir_ = tmpl;
    m->mountpoint_ = m->dir_ + "/mnt";
    mkdir(m->mountpoint_.c_str(), 0755);
    fs::transport::MountOptions mount_options{.mountpoint = m->mountpoint_,
                                              .threads = options.threads,
                                              .force_fusermount = options.force_fusermount,
                                              .transport = options.transport};
    m->session_ = std::make_unique<fs::fuse::Session>(
        fs::fuse::SessionOptions{.passthrough = options.passthrough});
    if (options.passthrough && options.fs.backing_files == nullptr) {
      auto dev = std::make_shared<fs::transport::DevBackingFiles>();
      options.fs.backing_files = dev;
      mount_options.on_connection = [dev](int fd) { CASTOR_CHECK(dev->Attach(fd).ok()); };
    }
    m->fs_ = std::make_unique<fs::CastoreFs>(std::move(services), options.fs);
    m->dispatcher_ = std::make_unique<fs::fuse::Dispatcher>(*m->fs_, *m->session_);
    auto s = fs::transport::DevFuseSession::Start(*m->dispatcher_, *m->session_,
                                                  std::move(mount_options));
    if (!s.ok()) {
      ADD_FAILURE() << "mount failed: " << s.status();
      return nullptr;
    }
    m->transport_ = std::move(*s);
    return m;
  }

  ~MountedFs() {
    if (transport_) {
      absl::Status s = transport_->Stop();
      EXPECT_TRUE(s.ok()) << s;
    }
    rmdir(mountpoint_.c_str());
    rmdir(dir_.c_str());
  }

  std::string Path(std::string_view rel = "") const {
    return rel.empty() ? mountpoint_ : mountpoint_ + "/" + std::string(rel);
  }
  fs::CastoreFs& fs() { return *fs_; }
  fs::transport::DevFuseSession& transport() { return *transport_; }
  const fs::fuse::Session& session() const { return *session_; }

 private:
  MountedFs() = default;
  std::string dir_;
  std::string mountpoint_;
  std::unique_ptr<fs::fuse::Session> session_;
  std::unique_ptr<fs::CastoreFs> fs_;
  std::unique_ptr<fs::fuse::Dispatcher> dispatcher_;
  std::unique_ptr<fs::transport::DevFuseSession> transport_;
};

using castore::testing::ReadAll;
using castore::testing::ReadResult;

// Whether this process can mount (root, /dev/fuse present).
inline bool CanMount() { return access("/dev/fuse", R_OK | W_OK) == 0; }

}  // namespace castor::testing
