// GuestSessionHandler: a guest whose driver restarts (INIT again on the same
// vhost-user connection) gets a new FUSE session instead of EIO.
#include "fs/transport/virtiofs_server.h"

#include <cstring>
#include <vector>

#include "castore/blob/memory_blob_service.h"
#include "castore/directory/memory_directory_service.h"
#include "castore/roots/memory_root_service.h"
#include "fs/castore_fs.h"
#include "fs/fuse/abi.h"
#include "fs/fuse/dispatcher.h"
#include "fs/fuse/session.h"
#include "gtest/gtest.h"

namespace castor::fs::transport {
namespace {

class BufferResponder : public fuse::Responder {
 public:
  std::span<uint8_t> ReplyBuffer() override { return buf_; }
  void Complete(size_t length) override {
    length_ = length;
    completed_ = true;
  }
  int32_t error() const {
    fuse_out_header h;
    std::memcpy(&h, buf_.data(), sizeof(h));
    return h.error;
  }
  bool completed() const { return completed_; }
  size_t length() const { return length_; }

 private:
  std::vector<uint8_t> buf_ = std::vector<uint8_t>(64 * 1024);
  size_t length_ = 0;
  bool completed_ = false;
};

std::vector<uint8_t> Request(uint32_t opcode, uint64_t unique, uint64_t nodeid, const void* body,
                             size_t size) {
  std::vector<uint8_t> r(sizeof(fuse_in_header) + size);
  fuse_in_header h{};
  h.len = r.size();
  h.opcode = opcode;
  h.unique = unique;
  h.nodeid = nodeid;
  std::memcpy(r.data(), &h, sizeof(h));
  if (size > 0) std::memcpy(r.data() + sizeof(h), body, size);
  return r;
}

std::vector<uint8_t> Init(uint64_t unique) {
  fuse_init_in in{};
  in.major = FUSE_KERNEL_VERSION;
  in.minor = 36;
  in.max_readahead = 128 * 1024;
  in.flags = FUSE_ASYNC_READ | FUSE_MAX_PAGES | FUSE_DO_READDIRPLUS;
  return Request(FUSE_INIT, unique, 0, &in, sizeof(in));
}

castore::Services MemoryServices() {
  return {std::make_shared<castore::MemoryBlobService>(),
          std::make_shared<castore::MemoryDirectoryService>(),
          std::make_shared<castore::MemoryRootService>()};
}

FilesystemFactory CastoreFsFactory(int* made) {
  return [made, services = MemoryServices()] {
    ++*made;
    return std::make_unique<CastoreFs>(services, FsOptions{});
  };
}

TEST(GuestSessionHandlerTest, SecondInitStartsANewSession) {
  int made = 0;
  GuestSessionHandler handler(CastoreFsFactory(&made));
  for (uint64_t boot = 1; boot <= 3; ++boot) {
    BufferResponder init;
    handler.Handle(Init(boot * 10), init);
    ASSERT_TRUE(init.completed());
    EXPECT_EQ(init.error(), 0) << "boot " << boot;
    EXPECT_GE(init.length(), sizeof(fuse_out_header) + 24);
    fuse_getattr_in getattr{};
    BufferResponder attr;
    handler.Handle(Request(FUSE_GETATTR, boot * 10 + 1, FUSE_ROOT_ID, &getattr, sizeof(getattr)),
                   attr);
    ASSERT_TRUE(attr.completed());
    EXPECT_EQ(attr.error(), 0);
  }
  EXPECT_EQ(handler.sessions(), 3u);
  EXPECT_EQ(made, 3) << "each session gets a filesystem of its own";
}

TEST(GuestSessionHandlerTest, PlainDispatcherRefusesASecondInit) {
  // What the handler protects against: one Session accepts one INIT.
  CastoreFs fs(MemoryServices(), FsOptions{});
  fuse::Session session;
  fuse::Dispatcher dispatcher(fs, session);
  BufferResponder first, second;
  dispatcher.Handle(Init(1), first);
  dispatcher.Handle(Init(2), second);
  EXPECT_EQ(first.error(), 0);
  EXPECT_EQ(second.error(), -EIO);
}

}  // namespace
}  // namespace castor::fs::transport
