// The Dispatcher fed directly with frames: well-formed ones (INIT, lookup
// counts, read-only errors) and truncated or garbage ones, which must each
// be completed exactly once with a well-formed reply or none, never a crash.
#include "fs/fuse/dispatcher.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "castore/blob/memory_blob_service.h"
#include "castore/directory/memory_directory_service.h"
#include "castore/roots/memory_root_service.h"
#include "fs/castore_fs.h"
#include "gtest/gtest.h"

namespace castor::fs::fuse {
namespace {

using castore::Entry;
using castore::PathComponent;

class TestResponder : public Responder {
 public:
  explicit TestResponder(size_t size) : buffer(size) {}
  std::span<uint8_t> ReplyBuffer() override { return buffer; }
  void Complete(size_t length) override {
    ++completions;
    this->length = length;
  }
  fuse_out_header Header() const {
    fuse_out_header h;
    std::memcpy(&h, buffer.data(), sizeof(h));
    return h;
  }
  template <typename T>
  T Payload() const {
    T v;
    std::memcpy(&v, buffer.data() + sizeof(fuse_out_header), sizeof(T));
    return v;
  }
  std::vector<uint8_t> buffer;
  int completions = 0;
  size_t length = 0;
};

std::vector<uint8_t> Frame(uint32_t opcode, uint64_t nodeid, uint64_t unique,
                           std::string_view payload) {
  fuse_in_header h{};
  h.len = static_cast<uint32_t>(sizeof(h) + payload.size());
  h.opcode = opcode;
  h.unique = unique;
  h.nodeid = nodeid;
  std::vector<uint8_t> f(sizeof(h) + payload.size());
  std::memcpy(f.data(), &h, sizeof(h));
  std::memcpy(f.data() + sizeof(h), payload.data(), payload.size());
  return f;
}

template <typename T>
std::string Bytes(const T& v) {
  return std::string(reinterpret_cast<const char*>(&v), sizeof(v));
}

class DispatcherTest : public ::testing::Test {
 protected:
  DispatcherTest() {
    services_.blobs = std::make_shared<castore::MemoryBlobService>();
    services_.directories = std::make_shared<castore::MemoryDirectoryService>();
    services_.roots = std::make_shared<castore::MemoryRootService>();
    auto digest = castore::PutBlob(*services_.blobs, "hello");
    EXPECT_TRUE(digest.ok());
    EXPECT_TRUE(
        services_.roots
            ->Put(Entry{*PathComponent::Create("hello"), castore::FileNode{*digest, 5, false}})
            .ok());
    auto dir = castore::Directory::Create(
        {Entry{*PathComponent::Create("a"), castore::FileNode{*digest, 5, false}},
         Entry{*PathComponent::Create("b"), castore::FileNode{*digest, 5, true}}});
    EXPECT_TRUE(dir.ok());
    EXPECT_TRUE(services_.directories->Put(*dir).ok());
    EXPECT_TRUE(services_.roots
                    ->Put(Entry{*PathComponent::Create("dir"),
                                castore::DirectoryNode{dir->digest(), dir->size()}})
                    .ok());
    fs_ = std::make_unique<CastoreFs>(services_, FsOptions{.list_root = true});
    dispatcher_ = std::make_unique<Dispatcher>(*fs_, session_);
  }

  TestResponder Send(const std::vector<uint8_t>& frame, size_t buffer = 1 << 20) {
    TestResponder r(buffer);
    dispatcher_->Handle(frame, r);
    EXPECT_EQ(r.completions, 1);
    return r;
  }

  // INIT from a kernel offering these flags and `more`.
  void Init(uint32_t more = 0) {
    fuse_init_in in{};
    in.major = 7;
    in.minor = 38;
    in.max_readahead = 128 * 1024;
    in.flags = FUSE_ASYNC_READ | FUSE_DO_READDIRPLUS | FUSE_READDIRPLUS_AUTO | FUSE_MAX_PAGES |
               FUSE_PARALLEL_DIROPS | FUSE_POSIX_LOCKS | FUSE_INIT_EXT | more;
    TestResponder r = Send(Frame(FUSE_INIT, 0, 1, Bytes(in)));
    ASSERT_EQ(r.Header().error, 0);
  }

  uint64_t Lookup(uint64_t parent, std::string_view name, int expect_error = 0) {
    std::string payload(name);
    payload.push_back('\0');
    TestResponder r = Send(Frame(FUSE_LOOKUP, parent, 7, payload));
    EXPECT_EQ(r.Header().error, -expect_error) << name;
    if (expect_error != 0) return 0;
    EXPECT_EQ(r.length, sizeof(fuse_out_header) + sizeof(fuse_entry_out));
    return r.Payload<fuse_entry_out>().nodeid;
  }

  castore::Services services_;
  Session session_;
  std::unique_ptr<CastoreFs> fs_;
  std::unique_ptr<Dispatcher> dispatcher_;
};

TEST_F(DispatcherTest, RequestsBeforeInitGetEio) {
  TestResponder r = Send(Frame(FUSE_GETATTR, 1, 5, std::string(16, '\0')));
  EXPECT_EQ(r.Header().error, -EIO);
  EXPECT_EQ(r.Header().unique, 5u);
  EXPECT_EQ(r.length, sizeof(fuse_out_header));
}

TEST_F(DispatcherTest, InitAgreesOnOfferedFlagsOnly) {
  fuse_init_in in{};
  in.major = 7;
  in.minor = 38;
  in.max_readahead = 65536;
  in.flags = FUSE_ASYNC_READ | FUSE_MAX_PAGES | FUSE_POSIX_LOCKS;
  TestResponder r = Send(Frame(FUSE_INIT, 0, 1, Bytes(in)));
  ASSERT_EQ(r.Header().error, 0);
  ASSERT_EQ(r.length, sizeof(fuse_out_header) + sizeof(fuse_init_out));
  auto out = r.Payload<fuse_init_out>();
  EXPECT_EQ(out.major, 7u);
  EXPECT_EQ(out.minor, 38u);
  EXPECT_EQ(out.flags, uint32_t{FUSE_ASYNC_READ | FUSE_MAX_PAGES});
  EXPECT_EQ(out.max_pages, 256u);
  EXPECT_EQ(out.max_readahead, 65536u);
  EXPECT_TRUE(session_.initialized());
  // A second INIT is refused.
  EXPECT_EQ(Send(Frame(FUSE_INIT, 0, 2, Bytes(in))).Header().error, -EIO);
}

TEST_F(DispatcherTest, InitAsksForReaddirPlusAlwaysAndNotesNoOpendirSupport) {
  Init(FUSE_NO_OPENDIR_SUPPORT | FUSE_CACHE_SYMLINKS);
  // Not READDIRPLUS_AUTO: the kernel would then list plainly past the first
  // reply and look every name of a large directory up one by one.
  EXPECT_EQ(session_.flags() & (FUSE_DO_READDIRPLUS | FUSE_READDIRPLUS_AUTO),
            uint64_t{FUSE_DO_READDIRPLUS});
  EXPECT_TRUE(session_.flags() & FUSE_NO_OPENDIR_SUPPORT);
  EXPECT_TRUE(session_.flags() & FUSE_CACHE_SYMLINKS);
}

// Names of the records in a READDIRPLUS reply.
std::vector<std::string> PlusNames(const TestResponder& r) {
  std::vector<std::string> names;
  size_t at = sizeof(fuse_out_header);
  while (at + sizeof(fuse_direntplus) <= r.length) {
    fuse_direntplus d;
    std::memcpy(&d, r.buffer.data() + at, sizeof(d));
    names.emplace_back(reinterpret_cast<const char*>(r.buffer.data()) + at + sizeof(d),
                       d.dirent.namelen);
    at += FUSE_DIRENTPLUS_SIZE(&d);
  }
  return names;
}

TEST_F(DispatcherTest, OpendirIsEnosysWhenTheKernelCanListWithoutIt) {
  // Without --list-root every listing is immutable.
  fs_ = std::make_unique<CastoreFs>(services_, FsOptions{});
  dispatcher_ = std::make_unique<Dispatcher>(*fs_, session_);
  Init(FUSE_NO_OPENDIR_SUPPORT);
  uint64_t dir = Lookup(1, "dir");
  fuse_open_in oin{O_RDONLY, 0};
  EXPECT_EQ(Send(Frame(FUSE_OPENDIR, dir, 1, Bytes(oin))).Header().error, -ENOSYS);
  EXPECT_EQ(Send(Frame(FUSE_OPENDIR, 1, 2, Bytes(oin))).Header().error, -ENOSYS);
  EXPECT_EQ(fs_->handle_count(), 0u);
  // The kernel then lists with handle 0.
  fuse_read_in rin{};
  rin.size = 4096;
  TestResponder r = Send(Frame(FUSE_READDIRPLUS, dir, 3, Bytes(rin)));
  ASSERT_EQ(r.Header().error, 0);
  EXPECT_EQ(PlusNames(r), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(Send(Frame(FUSE_READDIR, 1, 4, Bytes(rin))).Header().error, -EPERM);
  EXPECT_EQ(Send(Frame(FUSE_READDIRPLUS, 4242, 5, Bytes(rin))).Header().error, -ENOENT);
}

TEST_F(DispatcherTest, OpendirIsServedWhenTheKernelOrTheRootListingNeedsIt) {
  // --list-root (the fixture's): the root's listing is a snapshot per open.
  Init(FUSE_NO_OPENDIR_SUPPORT);
  fuse_open_in oin{O_RDONLY, 0};
  TestResponder o = Send(Frame(FUSE_OPENDIR, 1, 1, Bytes(oin)));
  ASSERT_EQ(o.Header().error, 0);
  EXPECT_NE(o.Payload<fuse_open_out>().fh, 0u);
}

TEST_F(DispatcherTest, OpendirIsServedForAKernelWithoutNoOpendirSupport) {
  fs_ = std::make_unique<CastoreFs>(services_, FsOptions{});
  dispatcher_ = std::make_unique<Dispatcher>(*fs_, session_);
  Init();
  uint64_t dir = Lookup(1, "dir");
  fuse_open_in oin{O_RDONLY, 0};
  TestResponder o = Send(Frame(FUSE_OPENDIR, dir, 1, Bytes(oin)));
  ASSERT_EQ(o.Header().error, 0);
  EXPECT_NE(o.Payload<fuse_open_out>().fh, 0u);
}

// INIT of a 7.40 kernel offering passthrough, to a session with
// `passthrough` set or not, and the filesystem hearing of the agreement.
TEST(DispatcherPassthroughTest, InitAgreesToPassthroughOnlyWhenAskedAndTellsTheDepth) {
  for (bool ask : {false, true}) {
    SCOPED_TRACE(ask ? "asked" : "not asked");
    castore::Services services;
    services.blobs = std::make_shared<castore::MemoryBlobService>();
    services.directories = std::make_shared<castore::MemoryDirectoryService>();
    services.roots = std::make_shared<castore::MemoryRootService>();
    class Backing : public BackingFiles {
     public:
      absl::StatusOr<int32_t> Open(int) override { return 1; }
      absl::Status Close(int32_t) override { return absl::OkStatus(); }
    };
    CastoreFs fs(services, FsOptions{.backing_files = std::make_shared<Backing>()});
    Session session(SessionOptions{.passthrough = ask, .max_stack_depth = 2});
    Dispatcher dispatcher(fs, session);
    fuse_init_in in{};
    in.major = 7;
    in.minor = 40;
    in.flags = FUSE_ASYNC_READ | FUSE_INIT_EXT;
    in.flags2 = static_cast<uint32_t>(kInitPassthrough >> 32);
    TestResponder r(4096);
    dispatcher.Handle(Frame(FUSE_INIT, 0, 1, Bytes(in)), r);
    ASSERT_EQ(r.Header().error, 0);
    auto out = r.Payload<fuse_init_out>();
    EXPECT_EQ((uint64_t{out.flags2} << 32) & kInitPassthrough, ask ? kInitPassthrough : 0);
    EXPECT_EQ(MaxStackDepth(out), ask ? 2u : 0u);
    EXPECT_EQ(session.passthrough(), ask);
    EXPECT_EQ(fs.passthrough(), ask);
  }
}

TEST(DispatcherPassthroughTest, KernelThatDoesNotOfferPassthroughGetsNone) {
  Session session(SessionOptions{.passthrough = true});
  fuse_init_in in{};
  in.major = 7;
  in.minor = 38;
  in.flags = FUSE_ASYNC_READ | FUSE_INIT_EXT;
  fuse_init_out out;
  size_t size = 0;
  ASSERT_EQ(session.Init(in, &out, &size), 0);
  EXPECT_EQ(out.flags2 & static_cast<uint32_t>(kInitPassthrough >> 32), 0u);
  EXPECT_EQ(MaxStackDepth(out), 0u);
  EXPECT_FALSE(session.passthrough());
}

// FUSE over io_uring: asked for only when the transport wants it (a kernel
// that agrees holds requests back until queues are registered), and only
// agreed when the kernel offers it.
TEST_F(DispatcherTest, InitAgreesOnOverUringOnlyWhenWantedAndOffered) {
  fuse_init_in in{};
  in.major = 7;
  in.minor = 44;
  in.flags = FUSE_ASYNC_READ | FUSE_INIT_EXT;
  in.flags2 = static_cast<uint32_t>(kInitOverUring >> 32);
  auto over_uring = [](const TestResponder& r) {
    auto out = r.Payload<fuse_init_out>();
    return ((uint64_t{out.flags2} << 32) & kInitOverUring) != 0;
  };
  {
    Session plain;
    Dispatcher d(*fs_, plain);
    TestResponder r(1 << 20);
    d.Handle(Frame(FUSE_INIT, 0, 1, Bytes(in)), r);
    ASSERT_EQ(r.Header().error, 0);
    EXPECT_FALSE(over_uring(r));
    EXPECT_EQ(plain.flags() & kInitOverUring, 0u);
  }
  {
    Session wanting;
    wanting.WantOverUring();
    Dispatcher d(*fs_, wanting);
    TestResponder r(1 << 20);
    d.Handle(Frame(FUSE_INIT, 0, 1, Bytes(in)), r);
    ASSERT_EQ(r.Header().error, 0);
    EXPECT_TRUE(over_uring(r));
    EXPECT_NE(wanting.flags() & kInitOverUring, 0u);
  }
  {
    Session wanting;
    wanting.WantOverUring();
    Dispatcher d(*fs_, wanting);
    in.flags2 = 0;  // the fuse module's enable_uring is off
    TestResponder r(1 << 20);
    d.Handle(Frame(FUSE_INIT, 0, 1, Bytes(in)), r);
    ASSERT_EQ(r.Header().error, 0);
    EXPECT_FALSE(over_uring(r));
    EXPECT_EQ(wanting.flags() & kInitOverUring, 0u);
  }
}

TEST_F(DispatcherTest, InitFromOldKernelGetsShortReplyAndNoMaxPages) {
  fuse_init_in in{};
  in.major = 7;
  in.minor = 22;
  in.flags = FUSE_ASYNC_READ;
  // A 7.22 kernel sends only the first 16 bytes.
  TestResponder r = Send(Frame(FUSE_INIT, 0, 1, Bytes(in).substr(0, 16)));
  ASSERT_EQ(r.Header().error, 0);
  EXPECT_EQ(r.length, sizeof(fuse_out_header) + FUSE_COMPAT_22_INIT_OUT_SIZE);
  EXPECT_EQ(r.Payload<fuse_init_out>().minor, 22u);
  EXPECT_EQ(session_.max_pages(), 32u);
}

TEST_F(DispatcherTest, InitFromTooOldOrNewerMajorKernel) {
  fuse_init_in in{};
  in.major = 7;
  in.minor = 5;
  EXPECT_EQ(Send(Frame(FUSE_INIT, 0, 1, Bytes(in))).Header().error, -EPROTO);
  in.major = 8;
  in.minor = 0;
  TestResponder r = Send(Frame(FUSE_INIT, 0, 1, Bytes(in)));
  EXPECT_EQ(r.Header().error, 0);
  EXPECT_EQ(r.length, sizeof(fuse_out_header) + FUSE_COMPAT_INIT_OUT_SIZE);
  EXPECT_EQ(r.Payload<fuse_init_out>().major, 7u);
  EXPECT_FALSE(session_.initialized());
}

TEST_F(DispatcherTest, FramesTooShortForAHeaderGetNoReply) {
  for (size_t n = 0; n < sizeof(fuse_in_header); ++n) {
    std::vector<uint8_t> f(n, 0xff);
    TestResponder r = Send(f);
    EXPECT_EQ(r.length, 0u) << n;
  }
}

TEST_F(DispatcherTest, HeaderLengthBeyondFrameIsEinval) {
  Init();
  auto f = Frame(FUSE_GETATTR, 1, 9, std::string(16, '\0'));
  f.resize(f.size() - 4);  // len now claims 4 more bytes than arrived
  TestResponder r = Send(f);
  EXPECT_EQ(r.Header().error, -EINVAL);
  EXPECT_EQ(r.Header().unique, 9u);
  // Extensions longer than the body.
  auto g = Frame(FUSE_GETATTR, 1, 10, std::string(16, '\0'));
  g[36] = 8;  // total_extlen = 64 bytes
  EXPECT_EQ(Send(g).Header().error, -EINVAL);
}

// Frames far larger than any request the kernel sends (it never exceeds
// max_write plus headers): a name of 1 MiB, a WRITE of 2 MiB, a frame
// longer than its header says. Each gets one well-formed error reply, the
// inode table is untouched, and the next request is served normally.
TEST_F(DispatcherTest, OversizedFramesGetErrorsAndNoNewInodes) {
  Init();
  std::string huge_name(1 << 20, 'n');
  huge_name.push_back('\0');
  for (uint64_t parent : {uint64_t{1}, Lookup(1, "dir")}) {
    TestResponder r = Send(Frame(FUSE_LOOKUP, parent, 21, huge_name));
    EXPECT_LT(r.Header().error, 0);
    EXPECT_EQ(r.length, sizeof(fuse_out_header));
    EXPECT_EQ(r.Header().unique, 21u);
  }
  size_t inodes = fs_->inode_count();
  fuse_write_in win{};
  win.size = 2 << 20;
  TestResponder w = Send(Frame(FUSE_WRITE, 1, 22, Bytes(win) + std::string(2 << 20, 'w')));
  EXPECT_EQ(w.Header().error, -EROFS);
  fuse_getxattr_in gin{};
  gin.size = 64;
  std::string xattr = Bytes(gin) + std::string(1 << 20, 'x');
  xattr.push_back('\0');
  TestResponder g = Send(Frame(FUSE_GETXATTR, 1, 23, xattr));
  EXPECT_LT(g.Header().error, 0);
  EXPECT_EQ(g.length, sizeof(fuse_out_header));
  // A frame with 1 MiB of trailing bytes beyond the length its header
  // states: only the stated request is looked at.
  auto f = Frame(FUSE_LOOKUP, 1, 24, std::string("hello\0", 6));
  f.resize(f.size() + (1 << 20), 0xee);
  TestResponder trailing = Send(f);
  EXPECT_EQ(trailing.Header().error, 0);
  EXPECT_EQ(trailing.Header().unique, 24u);
  EXPECT_EQ(fs_->inode_count(), inodes + 1);  // "hello", once
  EXPECT_EQ(Lookup(1, "hello"), trailing.Payload<fuse_entry_out>().nodeid);
}

TEST_F(DispatcherTest, TruncatedFixedHeadersAreEinval) {
  Init();
  for (uint32_t op :
       {FUSE_GETATTR, FUSE_OPEN, FUSE_READ, FUSE_OPENDIR, FUSE_READDIR, FUSE_READDIRPLUS,
        FUSE_RELEASE, FUSE_ACCESS, FUSE_GETXATTR, FUSE_LISTXATTR, FUSE_FLUSH}) {
    TestResponder r = Send(Frame(op, 1, 11, std::string(3, '\0')));
    EXPECT_EQ(r.Header().error, -EINVAL) << Dispatcher::OpcodeName(op);
    EXPECT_EQ(r.length, sizeof(fuse_out_header));
  }
}

TEST_F(DispatcherTest, NameWithoutNulIsEinval) {
  Init();
  EXPECT_EQ(Send(Frame(FUSE_LOOKUP, 1, 3, "hello")).Header().error, -EINVAL);
  EXPECT_EQ(fs_->inode_count(), 1u);
}

TEST_F(DispatcherTest, MutationsAreErofsAndUnknownOpcodesEnosys) {
  Init();
  for (uint32_t op :
       {FUSE_SETATTR, FUSE_SYMLINK, FUSE_MKNOD, FUSE_MKDIR, FUSE_UNLINK, FUSE_RMDIR, FUSE_RENAME,
        FUSE_RENAME2, FUSE_LINK, FUSE_WRITE, FUSE_SETXATTR, FUSE_REMOVEXATTR, FUSE_CREATE,
        FUSE_FALLOCATE, FUSE_COPY_FILE_RANGE, FUSE_TMPFILE}) {
    EXPECT_EQ(Send(Frame(op, 1, 4, std::string(64, '\0'))).Header().error, -EROFS)
        << Dispatcher::OpcodeName(op);
  }
  for (uint32_t op : std::initializer_list<uint32_t>{19u, 0u, FUSE_IOCTL, FUSE_LSEEK, FUSE_GETLK,
                                                     4096u, 0xffffffffu}) {
    EXPECT_EQ(Send(Frame(op, 1, 4, std::string(64, '\0'))).Header().error, -ENOSYS) << op;
  }
}

TEST_F(DispatcherTest, LookupCountsFollowLookupAndForget) {
  Init();
  uint64_t dir = Lookup(1, "dir");
  uint64_t a = Lookup(dir, "a");
  EXPECT_EQ(Lookup(dir, "a"), a);
  EXPECT_NE(Lookup(dir, "b"), a);    // same blob, different mode: own inode
  EXPECT_EQ(Lookup(1, "hello"), a);  // same blob and mode as dir/a: same inode
  Lookup(dir, "c", ENOENT);
  Lookup(1, "hell", ENOENT);
  EXPECT_EQ(fs_->lookup_count(a), 3u);
  fuse_forget_in forget{2};
  EXPECT_EQ(Send(Frame(FUSE_FORGET, a, 0, Bytes(forget))).length, 0u);
  EXPECT_EQ(fs_->lookup_count(a), 1u);
  size_t before = fs_->inode_count();
  // BATCH_FORGET whose count claims more entries than the frame holds.
  fuse_batch_forget_in batch{5, 0};
  fuse_forget_one one{a, 100};
  EXPECT_EQ(Send(Frame(FUSE_BATCH_FORGET, 0, 0, Bytes(batch) + Bytes(one))).length, 0u);
  EXPECT_EQ(fs_->lookup_count(a), 0u);
  EXPECT_EQ(fs_->inode_count(), before - 1);
  // Forgetting the root or unknown inodes is ignored.
  EXPECT_EQ(Send(Frame(FUSE_FORGET, 1, 0, Bytes(forget))).length, 0u);
  EXPECT_EQ(Send(Frame(FUSE_FORGET, 12345, 0, Bytes(forget))).length, 0u);
  EXPECT_EQ(fs_->lookup_count(1), 0u);
  fuse_getattr_in gin{};
  EXPECT_EQ(Send(Frame(FUSE_GETATTR, 1, 1, Bytes(gin))).Header().error, 0);
}

TEST_F(DispatcherTest, ReplyBufferTooSmallForTheReply) {
  Init();
  // Smaller than an out header: nothing can be sent.
  fuse_getattr_in gin{};
  TestResponder tiny = Send(Frame(FUSE_GETATTR, 1, 1, Bytes(gin)), 8);
  EXPECT_EQ(tiny.length, 0u);
  // Room for the header only: ERANGE, and the lookup reference is not kept.
  TestResponder r = Send(Frame(FUSE_LOOKUP, 1, 2, std::string("hello\0", 6)), 20);
  EXPECT_EQ(r.Header().error, -ERANGE);
  EXPECT_EQ(fs_->inode_count(), 1u);
}

TEST_F(DispatcherTest, ReaddirPlusResumesAtOffsetAndRespectsSize) {
  Init();
  uint64_t dir = Lookup(1, "dir");
  fuse_open_in oin{O_RDONLY, 0};
  TestResponder o = Send(Frame(FUSE_OPENDIR, dir, 1, Bytes(oin)));
  ASSERT_EQ(o.Header().error, 0);
  uint64_t fh = o.Payload<fuse_open_out>().fh;
  // Room for exactly one direntplus record with a 1-byte name.
  fuse_read_in rin{};
  rin.fh = fh;
  rin.size = sizeof(fuse_direntplus) + 8;
  std::vector<std::string> names;
  for (int i = 0; i < 4; ++i) {
    TestResponder r = Send(Frame(FUSE_READDIRPLUS, dir, 2, Bytes(rin)));
    ASSERT_EQ(r.Header().error, 0);
    size_t n = r.length - sizeof(fuse_out_header);
    if (n == 0) break;
    ASSERT_EQ(n, sizeof(fuse_direntplus) + 8);
    fuse_direntplus d;
    std::memcpy(&d, r.buffer.data() + sizeof(fuse_out_header), sizeof(d));
    names.emplace_back(
        reinterpret_cast<const char*>(r.buffer.data()) + sizeof(fuse_out_header) + sizeof(d),
        d.dirent.namelen);
    EXPECT_EQ(d.dirent.type, uint32_t{DT_REG});
    EXPECT_EQ(d.entry_out.nodeid, d.dirent.ino);
    rin.offset = d.dirent.off;
  }
  EXPECT_EQ(names, (std::vector<std::string>{"a", "b"}));
  // An offset past the end is an empty listing, not an error.
  rin.offset = 1000;
  TestResponder end = Send(Frame(FUSE_READDIR, dir, 2, Bytes(rin)));
  EXPECT_EQ(end.Header().error, 0);
  EXPECT_EQ(end.length, sizeof(fuse_out_header));
  // A handle that was never opened.
  rin.fh = 999;
  EXPECT_EQ(Send(Frame(FUSE_READDIR, dir, 2, Bytes(rin))).Header().error, -EBADF);
  EXPECT_EQ(Send(Frame(FUSE_READ, dir, 2, Bytes(rin))).Header().error, -EBADF);
}

TEST_F(DispatcherTest, GarbageFramesAlwaysCompleteOnceWithSaneReplies) {
  Init();
  std::mt19937_64 rng(42);
  uint64_t dir = Lookup(1, "dir");
  for (int i = 0; i < 20000; ++i) {
    size_t n = rng() % 200;
    std::vector<uint8_t> f(n);
    for (auto& b : f) b = static_cast<uint8_t>(rng());
    if (n >= sizeof(fuse_in_header) && rng() % 4 != 0) {
      // Mostly plausible headers, so the handlers' own checks are reached.
      fuse_in_header h;
      std::memcpy(&h, f.data(), sizeof(h));
      h.len = static_cast<uint32_t>(n - (rng() % 3 == 0 ? rng() % 8 : 0));
      h.opcode = static_cast<uint32_t>(rng() % 54);
      if (h.opcode == FUSE_DESTROY || h.opcode == FUSE_INIT) h.opcode = FUSE_GETATTR;
      h.nodeid = rng() % 3 == 0 ? dir : rng() % 8;
      h.total_extlen = rng() % 5 == 0 ? h.total_extlen : 0;
      std::memcpy(f.data(), &h, sizeof(h));
    }
    TestResponder r(4096);
    dispatcher_->Handle(f, r);
    ASSERT_EQ(r.completions, 1);
    if (r.length > 0) {
      ASSERT_GE(r.length, sizeof(fuse_out_header));
      ASSERT_LE(r.length, r.buffer.size());
      fuse_out_header h = r.Header();
      ASSERT_EQ(h.len, r.length);
      ASSERT_LE(h.error, 0);
      if (h.error < 0) {
        ASSERT_EQ(h.len, sizeof(fuse_out_header));
      }
      fuse_in_header in;
      std::memcpy(&in, f.data(), sizeof(in));
      ASSERT_EQ(h.unique, in.unique);
    }
  }
}

}  // namespace
}  // namespace castor::fs::fuse
