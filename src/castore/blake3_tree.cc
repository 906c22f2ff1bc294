#include "castore/blake3_tree.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "base/status.h"

// BLAKE3's internal functions, exported by the C sources that cmake/blake3.cmake
// builds (declared in their blake3_impl.h, which is C and not meant to be
// included from C++; the signatures are repeated here).
extern "C" {
void blake3_compress_in_place(uint32_t cv[8], const uint8_t block[64], uint8_t block_len,
                              uint64_t counter, uint8_t flags);
void blake3_hash_many(const uint8_t* const* inputs, size_t num_inputs, size_t blocks,
                      const uint32_t key[8], uint64_t counter, bool increment_counter,
                      uint8_t flags, uint8_t flags_start, uint8_t flags_end, uint8_t* out);
}

namespace castor::castore::blake3_tree {
namespace {

// blake3_impl.h's flags and IV.
constexpr uint8_t kChunkStart = 1 << 0;
constexpr uint8_t kChunkEnd = 1 << 1;
constexpr uint8_t kParent = 1 << 2;
constexpr uint8_t kRoot = 1 << 3;
constexpr uint32_t kIv[8] = {0x6A09E667UL, 0xBB67AE85UL, 0x3C6EF372UL, 0xA54FF53AUL,
                             0x510E527FUL, 0x9B05688CUL, 0x1F83D9ABUL, 0x5BE0CD19UL};
constexpr size_t kBlockLen = 64;

Cv StoreWords(const uint32_t words[8]) {
  Cv out;
  for (int i = 0; i < 8; ++i) {
    out[4 * i + 0] = static_cast<uint8_t>(words[i]);
    out[4 * i + 1] = static_cast<uint8_t>(words[i] >> 8);
    out[4 * i + 2] = static_cast<uint8_t>(words[i] >> 16);
    out[4 * i + 3] = static_cast<uint8_t>(words[i] >> 24);
  }
  return out;
}

// The CV of one chunk shorter than 1 KiB (possibly empty only for an empty
// blob, which never gets here) with chunk counter `counter`.
Cv PartialChunkCv(const uint8_t* p, size_t len, uint64_t counter) {
  uint32_t cv[8];
  std::memcpy(cv, kIv, sizeof cv);
  uint8_t start = kChunkStart;
  while (len > kBlockLen) {
    blake3_compress_in_place(cv, p, kBlockLen, counter, start);
    start = 0;
    p += kBlockLen;
    len -= kBlockLen;
  }
  uint8_t block[kBlockLen] = {};
  std::memcpy(block, p, len);
  blake3_compress_in_place(cv, block, static_cast<uint8_t>(len), counter, start | kChunkEnd);
  return StoreWords(cv);
}

Cv CompressParent(const Cv& left, const Cv& right, uint8_t flags) {
  uint8_t block[kBlockLen];
  std::memcpy(block, left.data(), 32);
  std::memcpy(block + 32, right.data(), 32);
  uint32_t cv[8];
  std::memcpy(cv, kIv, sizeof cv);
  blake3_compress_in_place(cv, block, kBlockLen, 0, flags | kParent);
  return StoreWords(cv);
}

// Largest power of two strictly below n (n >= 2): the left subtree's width.
uint64_t LeftWidth(uint64_t n) {
  uint64_t p = 1;
  while (p * 2 < n) p *= 2;
  return p;
}

// CV of the subtree over groups [0, cvs.size()) of `cvs` (pre-order node
// writer for EncodeOutboard: `out` gets this subtree's parents).
Cv EncodeSubtree(std::span<const Cv> cvs, std::string& out) {
  if (cvs.size() == 1) return cvs[0];
  size_t at = out.size();
  out.resize(at + 64);
  uint64_t left = LeftWidth(cvs.size());
  Cv l = EncodeSubtree(cvs.first(left), out);
  Cv r = EncodeSubtree(cvs.subspan(left), out);
  std::memcpy(out.data() + at, l.data(), 32);
  std::memcpy(out.data() + at + 32, r.data(), 32);
  return ParentCv(l, r);
}

// Checks the subtree over `groups` groups whose CV must be `expected` (with
// the ROOT flag when `root`), consuming its parents from `in`.
bool VerifySubtree(std::string_view& in, uint64_t groups, const Cv& expected, bool root,
                   std::vector<Cv>& out) {
  if (groups == 1) {
    out.push_back(expected);
    return true;
  }
  if (in.size() < 64) return false;
  Cv l, r;
  std::memcpy(l.data(), in.data(), 32);
  std::memcpy(r.data(), in.data() + 32, 32);
  in.remove_prefix(64);
  if (CompressParent(l, r, root ? kRoot : 0) != expected) return false;
  uint64_t left = LeftWidth(groups);
  return VerifySubtree(in, left, l, false, out) && VerifySubtree(in, groups - left, r, false, out);
}

}  // namespace

bool IsValidGroupSize(uint64_t group_size) {
  return group_size >= kChunkLen && (group_size & (group_size - 1)) == 0;
}

uint64_t GroupCount(uint64_t size, uint64_t group_size) {
  return size / group_size + (size % group_size != 0 ? 1 : 0);
}

Cv GroupCv(std::span<const uint8_t> data, uint64_t offset) {
  CASTOR_CHECK(!data.empty() && offset % kChunkLen == 0);
  const uint64_t first_chunk = offset / kChunkLen;
  const size_t full = data.size() / kChunkLen;
  const size_t tail = data.size() % kChunkLen;
  const size_t n = full + (tail != 0 ? 1 : 0);
  // Scratch reused by this thread's calls: a verified read hashes one group
  // per call, and allocating per call costs more than hashing a small one.
  thread_local std::vector<uint8_t> level, next;
  thread_local std::vector<const uint8_t*> inputs;
  // Level 0: every chunk's CV (full chunks many at a time, SIMD-wide).
  level.resize(n * 32);
  if (full > 0) {
    inputs.resize(full);
    for (size_t i = 0; i < full; ++i) inputs[i] = data.data() + i * kChunkLen;
    blake3_hash_many(inputs.data(), full, kChunkLen / kBlockLen, kIv, first_chunk, true, 0,
                     kChunkStart, kChunkEnd, level.data());
  }
  if (tail != 0) {
    Cv cv = PartialChunkCv(data.data() + full * kChunkLen, tail, first_chunk + full);
    std::memcpy(level.data() + full * 32, cv.data(), 32);
  }
  // Parents level by level; an odd node at the end moves up unchanged. This
  // builds the same tree as BLAKE3's "largest power of two on the left" rule.
  size_t count = n;
  while (count > 1) {
    const size_t pairs = count / 2;
    next.resize((pairs + count % 2) * 32);
    inputs.resize(pairs);
    for (size_t i = 0; i < pairs; ++i) inputs[i] = level.data() + i * 64;
    blake3_hash_many(inputs.data(), pairs, 1, kIv, 0, false, kParent, 0, 0, next.data());
    if (count % 2 != 0) std::memcpy(next.data() + pairs * 32, level.data() + (count - 1) * 32, 32);
    level.swap(next);
    count = pairs + count % 2;
  }
  Cv out;
  std::memcpy(out.data(), level.data(), 32);
  return out;
}

Cv ParentCv(const Cv& left, const Cv& right) { return CompressParent(left, right, 0); }

B3Digest RootFromGroupCvs(std::span<const Cv> cvs) {
  CASTOR_CHECK(cvs.size() >= 2);
  uint64_t left = LeftWidth(cvs.size());
  std::string scratch;
  Cv l = EncodeSubtree(cvs.first(left), scratch);
  Cv r = EncodeSubtree(cvs.subspan(left), scratch);
  Cv root = CompressParent(l, r, kRoot);
  return *B3Digest::FromBytes(std::string_view(reinterpret_cast<const char*>(root.data()), 32));
}

GroupHasher::GroupHasher(uint64_t group_size) : group_size_(group_size) {
  CASTOR_CHECK(IsValidGroupSize(group_size));
  group_.reserve(group_size);
}

void GroupHasher::Update(std::span<const uint8_t> data) {
  while (!data.empty()) {
    // A full group is hashed only once a byte after it arrives: until then
    // it may be the whole blob, whose root is hashed differently.
    if (group_.size() == group_size_) {
      cvs_.push_back(GroupCv(group_, offset_));
      offset_ += group_size_;
      group_.clear();
    }
    // Whole groups with a byte after them are hashed where they are, not
    // copied first (an importer hands over megabytes at a time).
    if (group_.empty()) {
      while (data.size() > group_size_) {
        cvs_.push_back(GroupCv(data.first(group_size_), offset_));
        offset_ += group_size_;
        data = data.subspan(group_size_);
      }
    }
    const size_t n = std::min<uint64_t>(data.size(), group_size_ - group_.size());
    const std::span<const uint8_t> head = data.first(n);
    group_.insert(group_.end(), head.begin(), head.end());
    data = data.subspan(n);
  }
}

GroupHasher::Result GroupHasher::Finish() {
  Result r;
  r.size = offset_ + group_.size();
  if (cvs_.empty()) {
    r.digest = B3Digest::Of(std::span<const uint8_t>(group_));
  } else {
    cvs_.push_back(GroupCv(group_, offset_));
    r.digest = RootFromGroupCvs(cvs_);
    r.cvs = std::move(cvs_);
  }
  cvs_.clear();
  group_.clear();
  offset_ = 0;
  return r;
}

std::string EncodeOutboard(uint64_t size, std::span<const Cv> cvs) {
  CASTOR_CHECK(cvs.size() >= 2);
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(size >> (8 * i));
  out.reserve(8 + 64 * (cvs.size() - 1));
  EncodeSubtree(cvs, out);
  return out;
}

absl::StatusOr<std::vector<Cv>> VerifyOutboard(std::string_view outboard, uint64_t size,
                                               uint64_t group_size, const B3Digest& digest) {
  if (!IsValidGroupSize(group_size)) {
    return absl::InvalidArgumentError(
        absl::StrCat("group size ", group_size, " is not a power of two of at least 1 KiB"));
  }
  const uint64_t groups = GroupCount(size, group_size);
  if (groups < 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("a blob of ", size, " bytes is a single group of ", group_size));
  }
  if (outboard.size() < 8) {
    return absl::DataLossError(
        absl::StrCat("outboard of blob ", digest.ToB3(), " has only ", outboard.size(), " bytes"));
  }
  uint64_t header = 0;
  for (int i = 0; i < 8; ++i)
    header |= static_cast<uint64_t>(static_cast<uint8_t>(outboard[i])) << (8 * i);
  if (header != size) {
    return absl::DataLossError(absl::StrCat("outboard of blob ", digest.ToB3(), " says ", header,
                                            " bytes, the chunk list ", size));
  }
  if (outboard.size() != 8 + 64 * (groups - 1)) {
    return absl::DataLossError(absl::StrCat("outboard of blob ", digest.ToB3(), " has ",
                                            outboard.size(), " bytes, expected ",
                                            8 + 64 * (groups - 1), " for ", groups, " groups"));
  }
  std::string_view nodes = outboard.substr(8);
  Cv root;
  std::memcpy(root.data(), digest.raw().data(), 32);
  std::vector<Cv> cvs;
  cvs.reserve(groups);
  if (!VerifySubtree(nodes, groups, root, true, cvs) || !nodes.empty()) {
    return absl::DataLossError(
        absl::StrCat("outboard of blob ", digest.ToB3(), " does not hash to its digest"));
  }
  return cvs;
}

}  // namespace castor::castore::blake3_tree
