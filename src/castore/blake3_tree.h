// BLAKE3's hash tree, for verified random access into a blob.
//
// BLAKE3 hashes a blob as a binary tree over 1 KiB chunks: a node covering n
// chunks (n > 1) has a left child of the largest power of two chunks below n,
// and the blob digest is the root node compressed with the ROOT flag. Cut a
// blob into aligned *groups* of G bytes (G a power of two, at least 1 KiB; the
// last group may be shorter): every group is then a complete subtree of that
// tree, so the chaining values (CVs) of the groups determine the digest, and
// once they are checked against it, one group's bytes are verified by
// recomputing that group's CV alone.
//
// The CVs travel as bao's *outboard* encoding with G-sized chunk groups: the
// blob length (8 bytes, little endian), then every parent node above the
// groups in pre-order, each as its left and right child CVs (64 bytes).
// Checking it top-down against the digest yields the trusted group CVs.
//
// Pure functions over values; thread-safe. GroupHasher is thread-compatible
// (one stream at a time).
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "castore/digest.h"

namespace castor::castore::blake3_tree {

using Cv = std::array<uint8_t, 32>;

inline constexpr uint64_t kChunkLen = 1024;
// The group size of the trees a local store keeps (LocalBlobOptions), and
// the one an importer hashes with for a store that keeps none.
inline constexpr uint64_t kDefaultGroupSize = 16 << 10;

// A power of two, at least one BLAKE3 chunk (1 KiB).
bool IsValidGroupSize(uint64_t group_size);

// The number of groups of G bytes a blob of `size` bytes has (the last one
// may be short); 0 for an empty blob.
uint64_t GroupCount(uint64_t size, uint64_t group_size);

// The CV of the group `data` (not empty) that starts at byte `offset` of a
// blob with more bytes than this group (so it is not the root). `offset` must
// be a multiple of the group size, and data.size() at most that size.
Cv GroupCv(std::span<const uint8_t> data, uint64_t offset);

// The CV of a parent node from its children's CVs (not the root).
Cv ParentCv(const Cv& left, const Cv& right);

// The blob digest from the CVs of its groups (at least two).
B3Digest RootFromGroupCvs(std::span<const Cv> cvs);

// The outboard of a blob of `size` bytes from the CVs of its groups (at
// least two).
std::string EncodeOutboard(uint64_t size, std::span<const Cv> cvs);

// Checks `outboard` for a blob of `size` bytes in groups of `group_size`
// (valid, and at least two groups) against `digest`, and returns the group
// CVs. DataLoss when its length header is not `size`, its length is wrong for
// that many groups, or its nodes do not hash to `digest`.
absl::StatusOr<std::vector<Cv>> VerifyOutboard(std::string_view outboard, uint64_t size,
                                               uint64_t group_size, const B3Digest& digest);

// The group CVs and the digest of a blob that arrives in pieces of any size,
// computed as it streams by (holding at most one group): a writer that cuts
// a blob into chunks of its own gets the tree, and the digest from it, in
// the one pass it makes anyway.
class GroupHasher {
 public:
  explicit GroupHasher(uint64_t group_size);
  uint64_t group_size() const { return group_size_; }
  void Update(std::span<const uint8_t> data);
  struct Result {
    B3Digest digest;
    uint64_t size = 0;
    std::vector<Cv> cvs;  // empty for a blob of at most one group
  };
  // The blob so far; resets for a new one.
  Result Finish();

 private:
  const uint64_t group_size_;
  std::vector<uint8_t> group_;  // the group in progress
  uint64_t offset_ = 0;         // where it starts
  std::vector<Cv> cvs_;
};

}  // namespace castor::castore::blake3_tree
