// Writes the seed corpora of the fuzz targets from our own encoders:
//   castor_fuzz_seeds OUT_DIR
// creates OUT_DIR/<target>/<name> for every target. The committed corpora
// under fuzz/corpus/ were made by it (scripts/fuzz.sh --seeds reruns it).
#include <linux/fuse.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "castore/digest.h"
#include "castore/directory.h"
#include "castore/node.h"
#include "fuzz/fuse_frames.h"

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

void FuseSeeds() {
  using castor::fuzz::AppendRecord;
  // Inode numbers are handed out from 2 in lookup order, file handles from 1;
  // the seeds rely on that only to give the fuzzer a good start.
  std::string lookups;
  AppendRecord(lookups, 0, Request(FUSE_LOOKUP, 1, 2, Name("dir")));
  AppendRecord(lookups, 0, Request(FUSE_LOOKUP, 2, 3, Name("a")));
  AppendRecord(lookups, 0, Request(FUSE_LOOKUP, 1, 4, Name("gone")));
  AppendRecord(lookups, 0, Request(FUSE_LOOKUP, 1, 5, Name("nope")));
  AppendRecord(lookups, 0, Request(FUSE_GETATTR, 3, 6, Bytes(fuse_getattr_in{})));
  fuse_forget_in forget{};
  forget.nlookup = 1;
  AppendRecord(lookups, 0, Request(FUSE_FORGET, 3, 7, Bytes(forget)));
  fuse_batch_forget_in batch{};
  batch.count = 1;
  fuse_forget_one one{};
  one.nodeid = 2;
  one.nlookup = 1;
  AppendRecord(lookups, 0, Request(FUSE_BATCH_FORGET, 0, 8, Bytes(batch) + Bytes(one)));
  Write("fuse_dispatcher_fuzz", "lookups", lookups);

  std::string reads;
  AppendRecord(reads, 0, Request(FUSE_LOOKUP, 1, 2, Name("dir")));
  AppendRecord(reads, 0, Request(FUSE_LOOKUP, 2, 3, Name("b")));
  fuse_open_in open{};
  AppendRecord(reads, 0, Request(FUSE_OPEN, 3, 4, Bytes(open)));
  fuse_read_in read{};
  read.fh = 1;
  read.offset = 99990;
  read.size = 4096;
  AppendRecord(reads, 1, Request(FUSE_READ, 3, 5, Bytes(read)));
  read.offset = 0;
  read.size = 131072;
  AppendRecord(reads, 2, Request(FUSE_READ, 3, 6, Bytes(read)));
  fuse_release_in release{};
  release.fh = 1;
  AppendRecord(reads, 0, Request(FUSE_RELEASE, 3, 7, Bytes(release)));
  AppendRecord(reads, 0, Request(FUSE_LOOKUP, 2, 8, Name("lost")));
  AppendRecord(reads, 0, Request(FUSE_OPEN, 4, 9, Bytes(open)));
  read.fh = 2;
  read.size = 10;
  AppendRecord(reads, 0, Request(FUSE_READ, 4, 10, Bytes(read)));
  Write("fuse_dispatcher_fuzz", "reads", reads);

  std::string dirs;
  AppendRecord(dirs, 0, Request(FUSE_OPENDIR, 1, 2, Bytes(open)));
  fuse_read_in rd{};
  rd.fh = 1;
  rd.size = 4096;
  AppendRecord(dirs, 0, Request(FUSE_READDIR, 1, 3, Bytes(rd)));
  AppendRecord(dirs, 3, Request(FUSE_READDIRPLUS, 1, 4, Bytes(rd)));
  AppendRecord(dirs, 0, Request(FUSE_LOOKUP, 1, 5, Name("dir")));
  AppendRecord(dirs, 0, Request(FUSE_OPENDIR, 2, 6, Bytes(open)));
  rd.fh = 2;
  AppendRecord(dirs, 0, Request(FUSE_READDIRPLUS, 2, 7, Bytes(rd)));
  rd.offset = 3;
  AppendRecord(dirs, 0, Request(FUSE_READDIR, 2, 8, Bytes(rd)));
  AppendRecord(dirs, 0, Request(FUSE_RELEASEDIR, 2, 9, Bytes(fuse_release_in{.fh = 2})));
  AppendRecord(dirs, 0, Request(FUSE_LOOKUP, 2, 10, Name("link")));
  AppendRecord(dirs, 0, Request(FUSE_READLINK, 3, 11, ""));
  Write("fuse_dispatcher_fuzz", "dirs", dirs);

  std::string misc;
  AppendRecord(misc, 0, Request(FUSE_LOOKUP, 1, 2, Name("hello")));
  fuse_getxattr_in gx{};
  gx.size = 0;
  AppendRecord(misc, 0,
               Request(FUSE_GETXATTR, 2, 3, Bytes(gx) + Name("user.tvix.castore.blob.digest")));
  gx.size = 256;
  AppendRecord(misc, 0,
               Request(FUSE_GETXATTR, 2, 4, Bytes(gx) + Name("user.tvix.castore.blob.digest")));
  AppendRecord(misc, 0, Request(FUSE_LISTXATTR, 2, 5, Bytes(gx)));
  fuse_access_in access{};
  access.mask = 2;
  AppendRecord(misc, 0, Request(FUSE_ACCESS, 2, 6, Bytes(access)));
  AppendRecord(misc, 0, Request(FUSE_STATFS, 1, 7, ""));
  AppendRecord(misc, 0, Request(FUSE_MKDIR, 1, 8, Bytes(fuse_mkdir_in{}) + Name("x")));
  AppendRecord(misc, 0, Request(FUSE_SETATTR, 2, 9, Bytes(fuse_setattr_in{})));
  AppendRecord(misc, 4, Request(FUSE_GETATTR, 2, 10, Bytes(fuse_getattr_in{})));
  AppendRecord(misc, 0, Request(FUSE_INIT, 0, 11, Bytes(fuse_init_in{.major = 7, .minor = 38})));
  AppendRecord(misc, 0, Request(FUSE_INTERRUPT, 0, 12, Bytes(fuse_interrupt_in{.unique = 3})));
  AppendRecord(misc, 0, Request(9999, 1, 13, ""));
  AppendRecord(misc, 0, Request(FUSE_DESTROY, 0, 14, ""));
  AppendRecord(misc, 0, Request(FUSE_GETATTR, 1, 15, Bytes(fuse_getattr_in{})));
  Write("fuse_dispatcher_fuzz", "misc", misc);
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
  return 0;
}
