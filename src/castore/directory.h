// Directory: a validated castore Directory. Its entries are kept in one list
// sorted bytewise by name across all three kinds, so a lookup is a binary
// search and a listing can resume at an index. Immutable once created
// (thread-compatible; share it as `const` freely).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "castore/digest.h"
#include "castore/node.h"

namespace tvix::castore::v1 {
class Directory;
}

namespace castor::castore {

class Directory {
 public:
  // The empty directory.
  Directory();

  // From entries in any order. Duplicate names are InvalidArgument; the size
  // overflowing 64 bits is InvalidArgument.
  static absl::StatusOr<Directory> Create(std::vector<Entry> entries);

  // From untrusted protobuf: every rule of docs/design.md, Wire facts (names, targets, digest
  // lengths, each list sorted, no duplicate across lists, size overflow).
  // Errors are InvalidArgument naming the entry.
  static absl::StatusOr<Directory> FromProto(const tvix::castore::v1::Directory& proto);
  // From untrusted protobuf bytes (truncated or garbage: InvalidArgument).
  static absl::StatusOr<Directory> Decode(std::string_view bytes);

  // Sorted bytewise by name.
  std::span<const Entry> entries() const { return entries_; }
  // The entry named `name`, or null. O(log n).
  const Entry* Find(std::string_view name) const;
  // Number of entries plus the sizes of the child directories.
  uint64_t size() const { return size_; }
  const B3Digest& digest() const { return digest_; }

  // Canonical protobuf encoding (its BLAKE3 is digest()).
  std::string Encode() const;
  tvix::castore::v1::Directory ToProto() const;

  friend bool operator==(const Directory& a, const Directory& b) { return a.digest_ == b.digest_; }

 private:
  Directory(std::vector<Entry> entries, uint64_t size);
  std::vector<Entry> entries_;
  uint64_t size_ = 0;
  B3Digest digest_;
};

}  // namespace castor::castore
