// Writes the seed corpora of the fuzz targets from our own encoders:
//   castor_fuzz_seeds OUT_DIR
// creates OUT_DIR/<target>/<name> for every target. The committed corpora
// under fuzz/corpus/ were made by it (scripts/fuzz.sh --seeds reruns it).
#include <archive.h>
#include <archive_entry.h>
#include <linux/fuse.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "castore/digest.h"
#include "castore/directory.h"
#include "castore/node.h"
#include "fs/transport/vhost_user_protocol.h"
#include "fuzz/fuse_frames.h"
#include "fuzz/vhost_user_records.h"
#include "fuzz/virtiofs_records.h"

namespace {

using castor::castore::B3Digest;
using castor::castore::Directory;
using castor::castore::DirectoryNode;
using castor::castore::Entry;
using castor::castore::FileNode;
using castor::castore::PathComponent;
using castor::castore::SymlinkNode;
using castor::castore::SymlinkTarget;

std::filesystem::path out_dir;

void Write(const std::string& target, const std::string& name, std::string_view bytes) {
  auto dir = out_dir / target;
  std::filesystem::create_directories(dir);
  std::ofstream f(dir / name, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!f) {
    std::fprintf(stderr, "cannot write %s\n", (dir / name).c_str());
    std::exit(1);
  }
}

Entry Named(std::string_view name, castor::castore::Node node) {
  return Entry{*PathComponent::Create(name), std::move(node)};
}

template <typename T>
std::string Bytes(const T& v) {
  return std::string(reinterpret_cast<const char*>(&v), sizeof(v));
}

std::string Request(uint32_t opcode, uint64_t nodeid, uint64_t unique, std::string_view payload) {
  fuse_in_header h{};
  h.len = static_cast<uint32_t>(sizeof(h) + payload.size());
  h.opcode = opcode;
  h.unique = unique;
  h.nodeid = nodeid;
  return Bytes(h) + std::string(payload);
}

std::string Name(std::string_view n) { return std::string(n) + '\0'; }

void DirectorySeeds() {
  B3Digest blob = B3Digest::Of(std::string_view("hello"));
  Directory empty;
  Directory keep = *Directory::Create({Named(".keep", FileNode{B3Digest::Of(""), 0, false})});
  Directory mixed = *Directory::Create({
      Named("a", FileNode{blob, 5, false}),
      Named("bin", FileNode{blob, 5, true}),
      Named("keep", DirectoryNode{keep.digest(), keep.size()}),
      Named("link", SymlinkNode{*SymlinkTarget::Create("../a")}),
      Named(std::string(255, 'n'), FileNode{blob, 5, false}),
      Named("\xff\x01name", SymlinkNode{*SymlinkTarget::Create(std::string(4095, '/'))}),
  });
  Write("directory_fuzz", "empty", empty.Encode());
  Write("directory_fuzz", "keep", keep.Encode());
  Write("directory_fuzz", "mixed", mixed.Encode());
  for (const auto& e : mixed.entries()) {
    Write("entry_fuzz", "entry_" + castor::castore::B3Digest::Of(e.name.str()).ToHex().substr(0, 8),
          castor::castore::EncodeEntry(e));
  }
  Write("entry_fuzz", "dir_node",
        castor::castore::EncodeEntry(Named("root", DirectoryNode{mixed.digest(), mixed.size()})));
}

void AddressSeeds() {
  B3Digest d = B3Digest::Of(std::string_view("hello"));
  Write("address_fuzz", "hex", d.ToHex());
  Write("address_fuzz", "b3", d.ToB3());
  Write("address_fuzz", "memory", "memory://");
  Write("address_fuzz", "file", "file:///nonexistent/blobs");
  Write("address_fuzz", "lmdb", "lmdb:///nonexistent/meta");
  Write("address_fuzz", "grpc_unix", "grpc+unix:///run/castor.sock");
  Write("address_fuzz", "grpc_http", "grpc+http://localhost:8000");
  Write("address_fuzz", "bogus", "bogus://x");
  Write("address_fuzz", "hex_and_addr", d.ToHex() + std::string(1, '\0') + "memory://");
}

// Writes a fuse_dispatcher_fuzz seed and the same requests as a
// virtiofs_fuzz seed (descriptor chains of varying shapes).
class FuseSeed {
 public:
  explicit FuseSeed(std::string name) : name_(std::move(name)) {}
  ~FuseSeed() {
    Write("fuse_dispatcher_fuzz", name_, frames_);
    Write("virtiofs_fuzz", name_, chains_);
  }
  void Add(uint8_t buffer_selector, const std::string& request) {
    castor::fuzz::AppendRecord(frames_, buffer_selector, request);
    // Shapes cycle through 1..4 readable, 1..3 writable descriptors, direct
    // and indirect; FORGETs go to the hiprio queue as the kernel sends them.
    uint32_t opcode;
    std::memcpy(&opcode, request.data() + 4, 4);
    bool hiprio = opcode == FUSE_FORGET || opcode == FUSE_BATCH_FORGET;
    int readable = 1 + count_ % 4, writable = 1 + count_ % 3;
    // The fuse_frames.h buffer size as the nearest kWritableSizes entry.
    static constexpr uint8_t kToWritable[] = {1, 0, 2, 3, 4, 6, 7};
    uint8_t size = kToWritable[buffer_selector % 7];
    castor::fuzz::AppendChainRecord(
        chains_, castor::fuzz::Shape(readable, writable, count_ % 2 == 1, hiprio), size,
        castor::fuzz::kDefectNone, request);
    ++count_;
  }
  // A chain with a defect, for the virtiofs seed only.
  void AddBroken(castor::fuzz::ChainDefect defect, const std::string& request) {
    castor::fuzz::AppendChainRecord(chains_, castor::fuzz::Shape(2, 1, defect % 2 == 0, false), 0,
                                    defect, request);
  }

 private:
  std::string name_;
  std::string frames_, chains_;
  int count_ = 0;
};

void FuseSeeds() {
  // Inode numbers are handed out from 2 in lookup order, file handles from 1;
  // the seeds rely on that only to give the fuzzer a good start.
  FuseSeed lookups("lookups");
  lookups.Add(0, Request(FUSE_LOOKUP, 1, 2, Name("dir")));
  lookups.Add(0, Request(FUSE_LOOKUP, 2, 3, Name("a")));
  lookups.Add(0, Request(FUSE_LOOKUP, 1, 4, Name("gone")));
  lookups.Add(0, Request(FUSE_LOOKUP, 1, 5, Name("nope")));
  lookups.Add(0, Request(FUSE_GETATTR, 3, 6, Bytes(fuse_getattr_in{})));
  fuse_forget_in forget{};
  forget.nlookup = 1;
  lookups.Add(0, Request(FUSE_FORGET, 3, 7, Bytes(forget)));
  fuse_batch_forget_in batch{};
  batch.count = 1;
  fuse_forget_one one{};
  one.nodeid = 2;
  one.nlookup = 1;
  lookups.Add(0, Request(FUSE_BATCH_FORGET, 0, 8, Bytes(batch) + Bytes(one)));

  FuseSeed reads("reads");
  reads.Add(0, Request(FUSE_LOOKUP, 1, 2, Name("dir")));
  reads.Add(0, Request(FUSE_LOOKUP, 2, 3, Name("b")));
  fuse_open_in open{};
  reads.Add(0, Request(FUSE_OPEN, 3, 4, Bytes(open)));
  fuse_read_in read{};
  read.fh = 1;
  read.offset = 99990;
  read.size = 4096;
  reads.Add(1, Request(FUSE_READ, 3, 5, Bytes(read)));
  read.offset = 0;
  read.size = 131072;
  reads.Add(2, Request(FUSE_READ, 3, 6, Bytes(read)));
  fuse_release_in release{};
  release.fh = 1;
  reads.Add(0, Request(FUSE_RELEASE, 3, 7, Bytes(release)));
  reads.Add(0, Request(FUSE_LOOKUP, 2, 8, Name("lost")));
  reads.Add(0, Request(FUSE_OPEN, 4, 9, Bytes(open)));
  read.fh = 2;
  read.size = 10;
  reads.Add(0, Request(FUSE_READ, 4, 10, Bytes(read)));

  FuseSeed dirs("dirs");
  dirs.Add(0, Request(FUSE_OPENDIR, 1, 2, Bytes(open)));
  fuse_read_in rd{};
  rd.fh = 1;
  rd.size = 4096;
  dirs.Add(0, Request(FUSE_READDIR, 1, 3, Bytes(rd)));
  dirs.Add(3, Request(FUSE_READDIRPLUS, 1, 4, Bytes(rd)));
  dirs.Add(0, Request(FUSE_LOOKUP, 1, 5, Name("dir")));
  dirs.Add(0, Request(FUSE_OPENDIR, 2, 6, Bytes(open)));
  rd.fh = 2;
  dirs.Add(0, Request(FUSE_READDIRPLUS, 2, 7, Bytes(rd)));
  rd.offset = 3;
  dirs.Add(0, Request(FUSE_READDIR, 2, 8, Bytes(rd)));
  dirs.Add(0, Request(FUSE_RELEASEDIR, 2, 9, Bytes(fuse_release_in{.fh = 2})));
  dirs.Add(0, Request(FUSE_LOOKUP, 2, 10, Name("link")));
  dirs.Add(0, Request(FUSE_READLINK, 3, 11, ""));

  FuseSeed misc("misc");
  misc.Add(0, Request(FUSE_LOOKUP, 1, 2, Name("hello")));
  fuse_getxattr_in gx{};
  gx.size = 0;
  misc.Add(0, Request(FUSE_GETXATTR, 2, 3, Bytes(gx) + Name("user.tvix.castore.blob.digest")));
  gx.size = 256;
  misc.Add(0, Request(FUSE_GETXATTR, 2, 4, Bytes(gx) + Name("user.tvix.castore.blob.digest")));
  misc.Add(0, Request(FUSE_LISTXATTR, 2, 5, Bytes(gx)));
  fuse_access_in access{};
  access.mask = 2;
  misc.Add(0, Request(FUSE_ACCESS, 2, 6, Bytes(access)));
  misc.Add(0, Request(FUSE_STATFS, 1, 7, ""));
  misc.Add(0, Request(FUSE_MKDIR, 1, 8, Bytes(fuse_mkdir_in{}) + Name("x")));
  misc.Add(0, Request(FUSE_SETATTR, 2, 9, Bytes(fuse_setattr_in{})));
  misc.Add(4, Request(FUSE_GETATTR, 2, 10, Bytes(fuse_getattr_in{})));
  misc.Add(0, Request(FUSE_INIT, 0, 11, Bytes(fuse_init_in{.major = 7, .minor = 38})));
  misc.Add(0, Request(FUSE_INTERRUPT, 0, 12, Bytes(fuse_interrupt_in{.unique = 3})));
  misc.Add(0, Request(9999, 1, 13, ""));
  misc.Add(0, Request(FUSE_DESTROY, 0, 14, ""));
  misc.Add(0, Request(FUSE_GETATTR, 1, 15, Bytes(fuse_getattr_in{})));

  // Malformed chains between good requests: each fails alone.
  FuseSeed broken("broken_chains");
  broken.Add(0, Request(FUSE_LOOKUP, 1, 2, Name("dir")));
  for (uint8_t d = castor::fuzz::kDefectOutsideMemory; d <= castor::fuzz::kDefectHugeLength; ++d) {
    broken.AddBroken(static_cast<castor::fuzz::ChainDefect>(d),
                     Request(FUSE_GETATTR, 2, 10 + d, Bytes(fuse_getattr_in{})));
    broken.Add(0, Request(FUSE_GETATTR, 2, 20 + d, Bytes(fuse_getattr_in{})));
  }
}

struct VringDesc {
  uint64_t addr;
  uint32_t len;
  uint16_t flags;
  uint16_t next;
};

void VirtqueueSeeds() {
  // Header (fuzz/virtqueue_fuzz.cc): queue size selector 4 (16 entries),
  // 0x10 = indirect allowed, start index 0. Then guest memory from 0: the
  // descriptor table at 0, the avail ring at 256, used at 512.
  constexpr uint16_t kNext = 1, kWrite = 2, kIndirect = 4;
  std::string mem(0x3100, '\0');
  auto put_desc = [&](size_t at, VringDesc d) { std::memcpy(mem.data() + at, &d, sizeof(d)); };
  auto put16 = [&](size_t at, uint16_t v) { std::memcpy(mem.data() + at, &v, 2); };
  put_desc(0 * 16, {0x1000, 64, kNext, 1});
  put_desc(1 * 16, {0x2000, 128, kWrite, 0});
  put_desc(2 * 16, {0x3000, 2 * 16, kIndirect, 0});
  put_desc(3 * 16, {0xfff0, 32, kWrite, 0});  // crosses into the second region
  put_desc(0x3000, {0x1100, 16, kNext, 1});
  put_desc(0x3010, {0x1200, 256, kWrite, 0});
  put16(256, 0);      // avail flags
  put16(256 + 2, 3);  // avail idx
  put16(256 + 4, 0);  // ring: heads 0, 2, 3
  put16(256 + 6, 2);
  put16(256 + 8, 3);
  std::string header = {static_cast<char>(4 | 0x10), 0, 0};
  Write("virtqueue_fuzz", "chains", header + mem);
  std::string event_idx = {static_cast<char>(4 | 0x08), 0, 0};
  Write("virtqueue_fuzz", "chains_event_idx", event_idx + mem);
}

struct TarSeedEntry {
  std::string name;
  mode_t type = AE_IFREG;
  std::string data;  // file contents, or the symlink / hard link target
  mode_t perm = 0644;
  bool hardlink = false;
  // A sparse file of `sparse_size` bytes holding `data` at `sparse_at` (a
  // hole before and after it).
  uint64_t sparse_size = 0;
  uint64_t sparse_at = 0;
};

// An archive made by libarchive's writer, in 512-byte blocks.
std::string Tar(const std::vector<TarSeedEntry>& entries,
                int format = ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, bool gzip = false) {
  std::string out(1 << 20, '\0');
  size_t used = 0;
  archive* a = archive_write_new();
  archive_write_set_format(a, format);
  if (gzip) {
    archive_write_add_filter_gzip(a);
    archive_write_set_filter_option(a, "gzip", "timestamp", nullptr);  // reproducible seeds
  }
  archive_write_set_bytes_per_block(a, 512);
  archive_write_set_bytes_in_last_block(a, 1);
  if (archive_write_open_memory(a, out.data(), out.size(), &used) != ARCHIVE_OK) {
    std::fprintf(stderr, "archive_write_open_memory: %s\n", archive_error_string(a));
    std::exit(1);
  }
  for (const TarSeedEntry& e : entries) {
    archive_entry* entry = archive_entry_new();
    archive_entry_set_pathname(entry, e.name.c_str());
    archive_entry_set_filetype(entry, e.type);
    archive_entry_set_perm(entry, e.perm);
    archive_entry_set_mtime(entry, 0, 0);
    int64_t size = e.type == AE_IFREG && !e.hardlink ? static_cast<int64_t>(e.data.size()) : 0;
    if (e.hardlink) archive_entry_set_hardlink(entry, e.data.c_str());
    if (e.type == AE_IFLNK) archive_entry_set_symlink(entry, e.data.c_str());
    if (e.type == AE_IFCHR || e.type == AE_IFBLK) archive_entry_set_rdev(entry, makedev(1, 3));
    if (e.sparse_size > 0) size = static_cast<int64_t>(e.sparse_size);
    archive_entry_set_size(entry, size);
    // After the size: blocks past it are dropped.
    if (e.sparse_size > 0) {
      archive_entry_sparse_add_entry(entry, static_cast<int64_t>(e.sparse_at),
                                     static_cast<int64_t>(e.data.size()));
    }
    if (archive_write_header(a, entry) < ARCHIVE_WARN) {
      std::fprintf(stderr, "tar seed %s: %s\n", e.name.c_str(), archive_error_string(a));
      std::exit(1);
    }
    if (size > 0) {
      // A sparse entry is written whole too; the writer skips the holes.
      std::string whole = e.data;
      if (e.sparse_size > 0) {
        whole.assign(e.sparse_size, '\0');
        whole.replace(e.sparse_at, e.data.size(), e.data);
      }
      archive_write_data(a, whole.data(), whole.size());
    }
    archive_entry_free(entry);
  }
  archive_write_close(a);
  archive_write_free(a);
  out.resize(used);
  return out;
}

void TarSeeds() {
  const std::string t = "tar_import_fuzz";
  Write(t, "valid",
        Tar({{"./", AE_IFDIR},
             {"./a", AE_IFREG, "alpha"},
             {"bin/run", AE_IFREG, "#!/bin/sh\n", 0755},
             {"d/e/f", AE_IFREG, std::string(700, 'f')},
             {"d//l", AE_IFLNK, "../a"},
             {"h", AE_IFREG, "a", 0644, true},
             {"empty/", AE_IFDIR},
             {"d/./g", AE_IFREG, ""}}));
  Write(t, "ustar",
        Tar({{"x", AE_IFREG, "x"}, {"y/", AE_IFDIR}, {"y/z", AE_IFLNK, "../x"}},
            ARCHIVE_FORMAT_TAR_USTAR));
  std::string dir120(120, 'd');
  Write(t, "gnu_long_names",
        Tar({{dir120 + "/" + std::string(200, 'n'), AE_IFREG, "long"},
             {dir120 + "/link", AE_IFLNK, std::string(300, 't')}},
            ARCHIVE_FORMAT_TAR_GNUTAR));
  Write(t, "gzip",
        Tar({{"a", AE_IFREG, "alpha"}, {"b", AE_IFLNK, "a"}}, ARCHIVE_FORMAT_TAR_PAX_RESTRICTED,
            true));
  // GNU sparse 1.0 in pax (what bsdtar writes); GNU tar's own formats are
  // the gnu_sparse_* seeds (fuzz/gnu_tar_seeds.sh).
  Write(t, "sparse",
        Tar({{"holes", AE_IFREG, "data in the middle", 0644, false, 65536, 30000},
             {"all_hole", AE_IFREG, "", 0644, false, 5000, 5000},
             {"hole_first", AE_IFREG, "tail", 0644, false, 3000, 2996}},
            ARCHIVE_FORMAT_TAR_PAX_RESTRICTED));
  Write(t, "bad_traversal", Tar({{"ok", AE_IFREG, "x"}, {"a/../../evil", AE_IFREG, "x"}}));
  Write(t, "bad_absolute", Tar({{"/etc/passwd", AE_IFREG, "x"}}));
  Write(
      t, "bad_devices",
      Tar({{"null", AE_IFCHR}, {"disk", AE_IFBLK}, {"fifo", AE_IFIFO}}, ARCHIVE_FORMAT_TAR_USTAR));
  Write(t, "bad_hardlink_missing", Tar({{"b", AE_IFREG, "missing", 0644, true}}));
  Write(t, "bad_hardlink_forward", Tar({{"b", AE_IFREG, "c", 0644, true}, {"c", AE_IFREG, "c"}}));
  Write(t, "duplicates",
        Tar({{"x", AE_IFREG, "1"},
             {"x", AE_IFREG, "2"},
             {"x/", AE_IFDIR},
             {"x/y", AE_IFREG, "3"},
             {"x", AE_IFREG, "4"},
             {"z", AE_IFLNK, "x"},
             {"z/", AE_IFDIR}}));
  Write(t, "bad_file_as_parent", Tar({{"f", AE_IFREG, "1"}, {"f/g", AE_IFREG, "2"}}));
  Write(t, "bad_long_component", Tar({{std::string(256, 'c'), AE_IFREG, "x"}}));
  Write(t, "bad_long_symlink", Tar({{"l", AE_IFLNK, std::string(4096, 's')}}));
  Write(t, "long_limits",
        Tar({{std::string(255, 'c'), AE_IFREG, "x"}, {"l", AE_IFLNK, std::string(4095, 's')}}));
}

template <typename T>
std::string Payload(const T& v) {
  return std::string(reinterpret_cast<const char*>(&v), sizeof(v));
}

void VhostUserSeeds() {
  namespace vhost = castor::fs::transport::vhost;
  using castor::fuzz::AppendSend;
  using castor::fuzz::VhostMessageBytes;
  constexpr uint32_t kV = vhost::kVersion, kAck = vhost::kVersion | vhost::kFlagNeedReply;
  constexpr uint64_t kUva = 0x70000000;
  auto u64 = [](uint64_t v) { return Payload(v); };
  // Guest memory A: one chain at descriptor 0 (64 readable bytes, 128
  // writable), avail ring with one entry; rings as in virtqueue_fuzz.
  std::string mem(0x3000, '\0');
  VringDesc d0{0x1000, 64, 1, 1}, d1{0x2000, 128, 2, 0};
  std::memcpy(mem.data(), &d0, 16);
  std::memcpy(mem.data() + 16, &d1, 16);
  uint16_t one = 1;
  std::memcpy(mem.data() + 256 + 2, &one, 2);

  auto handshake = [&](std::string& out, bool two_regions) {
    AppendSend(out, 0, castor::fuzz::kFdMemfdA, VhostMessageBytes(vhost::kGetFeatures, kV, ""));
    AppendSend(out, 0, castor::fuzz::kFdMemfdA, VhostMessageBytes(vhost::kSetOwner, kV, ""));
    AppendSend(out, 0, castor::fuzz::kFdMemfdA,
               VhostMessageBytes(vhost::kGetProtocolFeatures, kV, ""));
    AppendSend(out, 0, castor::fuzz::kFdMemfdA,
               VhostMessageBytes(vhost::kSetProtocolFeatures, kV,
                                 u64(vhost::kProtocolMq | vhost::kProtocolReplyAck)));
    AppendSend(out, 0, castor::fuzz::kFdMemfdA,
               VhostMessageBytes(vhost::kSetFeatures, kAck,
                                 u64(vhost::kFeatureVersion1 | vhost::kFeatureIndirectDesc |
                                     vhost::kFeatureEventIdx | vhost::kFeatureProtocolFeatures)));
    uint32_t n = two_regions ? 2 : 1;
    std::string table = Payload(n) + std::string(4, '\0');
    table += Payload(vhost::MemoryRegion{0, castor::fuzz::kMemfdASize, kUva, 0});
    if (two_regions) {
      table += Payload(vhost::MemoryRegion{castor::fuzz::kMemfdASize, 2048, 0x80000000, 1024});
    }
    AppendSend(out, static_cast<int>(n), castor::fuzz::kFdMemfdA,
               VhostMessageBytes(vhost::kSetMemTable, kAck, table));
    AppendSend(out, 0, castor::fuzz::kFdMemfdA,
               VhostMessageBytes(vhost::kSetVringNum, kAck, Payload(vhost::VringState{0, 16})));
    AppendSend(out, 0, castor::fuzz::kFdMemfdA,
               VhostMessageBytes(vhost::kSetVringAddr, kAck,
                                 Payload(vhost::VringAddr{0, 0, kUva, kUva + 512, kUva + 256, 0})));
    AppendSend(out, 0, castor::fuzz::kFdMemfdA,
               VhostMessageBytes(vhost::kSetVringBase, kAck, Payload(vhost::VringState{0, 0})));
    AppendSend(out, 1, castor::fuzz::kFdEventfd,
               VhostMessageBytes(vhost::kSetVringCall, kAck, u64(0)));
    AppendSend(out, 1, castor::fuzz::kFdEventfd,
               VhostMessageBytes(vhost::kSetVringErr, kAck, u64(0)));
    AppendSend(out, 1, castor::fuzz::kFdEventfd,
               VhostMessageBytes(vhost::kSetVringKick, kAck, u64(0)));
    AppendSend(out, 0, castor::fuzz::kFdMemfdA,
               VhostMessageBytes(vhost::kSetVringEnable, kAck, Payload(vhost::VringState{0, 1})));
  };
  std::string config = Payload(vhost::ConfigHeader{0, 40, 0}) + std::string(40, '\0');

  std::string full;
  castor::fuzz::AppendGuestInit(full, mem);
  handshake(full, false);
  AppendSend(full, 0, castor::fuzz::kFdMemfdA, VhostMessageBytes(vhost::kGetConfig, kV, config));
  AppendSend(full, 0, castor::fuzz::kFdMemfdA, VhostMessageBytes(vhost::kGetQueueNum, kV, ""));
  AppendSend(full, 0, castor::fuzz::kFdMemfdA,
             VhostMessageBytes(vhost::kGetVringBase, kV, Payload(vhost::VringState{0, 0})));
  AppendSend(full, 0, castor::fuzz::kFdMemfdA, VhostMessageBytes(99, kAck, ""));
  AppendSend(full, 0, castor::fuzz::kFdMemfdA, VhostMessageBytes(vhost::kSetConfig, kAck, config));
  AppendSend(full, 0, castor::fuzz::kFdMemfdA, VhostMessageBytes(vhost::kResetDevice, kAck, ""));
  Write("vhost_user_fuzz", "handshake", full);

  std::string two;
  castor::fuzz::AppendGuestInit(two, mem);
  handshake(two, true);
  // Several messages in one send, then one cut short.
  AppendSend(two, 0, castor::fuzz::kFdMemfdA,
             VhostMessageBytes(vhost::kGetQueueNum, kV, "") +
                 VhostMessageBytes(vhost::kSetVringEnable, kAck, Payload(vhost::VringState{1, 1})) +
                 VhostMessageBytes(vhost::kGetFeatures, kV, "").substr(0, 7));
  Write("vhost_user_fuzz", "two_regions", two);

  std::string bad;
  castor::fuzz::AppendGuestInit(bad, "");
  AppendSend(bad, 0, castor::fuzz::kFdMemfdA, VhostMessageBytes(vhost::kGetFeatures, kV, ""));
  std::string table = Payload(uint32_t{1}) + std::string(4, '\0') +
                      Payload(vhost::MemoryRegion{0, 1 << 20, kUva, 0});  // larger than the memfd
  AppendSend(bad, 1, castor::fuzz::kFdMemfdB, VhostMessageBytes(vhost::kSetMemTable, kAck, table));
  AppendSend(bad, 0, castor::fuzz::kFdMemfdA,
             VhostMessageBytes(vhost::kSetVringNum, kAck, Payload(vhost::VringState{7, 16})));
  Write("vhost_user_fuzz", "bad_messages", bad);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
    return 2;
  }
  out_dir = argv[1];
  DirectorySeeds();
  AddressSeeds();
  FuseSeeds();
  VirtqueueSeeds();
  TarSeeds();
  VhostUserSeeds();
  return 0;
}
