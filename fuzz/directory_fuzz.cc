// libFuzzer target: castore::Directory::Decode on untrusted protobuf bytes.
// Accepted input must re-encode to canonical bytes that decode again to the
// same Directory (same digest, same canonical bytes, digest = BLAKE3 of
// them); rejected input must be InvalidArgument with a message, and when
// the bytes are a well-formed protobuf Directory every rejection is about an
// entry (a bad name, digest length or symlink target, an unsorted or
// duplicate name, a size overflow), so the message must name one of its
// entries as `entry '<QuoteName(name)>'`.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "castore/digest.h"
#include "castore/directory.h"
#include "castore/node.h"
#include "fuzz/fuzz_check.h"
#include "tvix/castore/protos/castore.pb.h"

namespace {

// Whether `message` names one of the entries of `proto`.
bool NamesAnEntry(std::string_view message, const tvix::castore::v1::Directory& proto) {
  auto names = [&](const std::string& name) {
    std::string quoted = "entry " + castor::castore::QuoteName(name);
    return message.find(quoted) != std::string_view::npos;
  };
  for (const auto& d : proto.directories()) {
    if (names(d.name())) return true;
  }
  for (const auto& f : proto.files()) {
    if (names(f.name())) return true;
  }
  for (const auto& s : proto.symlinks()) {
    if (names(s.name())) return true;
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto dir = castor::castore::Directory::Decode(bytes);
  if (!dir.ok()) {
    FUZZ_CHECK(dir.status().code() == absl::StatusCode::kInvalidArgument);
    FUZZ_CHECK(!dir.status().message().empty());
    tvix::castore::v1::Directory proto;
    if (proto.ParseFromArray(data, static_cast<int>(size))) {
      FUZZ_CHECK(NamesAnEntry(
          std::string_view(dir.status().message().data(), dir.status().message().size()), proto));
    }
    return 0;
  }
  std::string canonical = dir->Encode();
  FUZZ_CHECK(castor::castore::B3Digest::Of(canonical) == dir->digest());
  auto again = castor::castore::Directory::Decode(canonical);
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(again->digest() == dir->digest());
  FUZZ_CHECK(again->Encode() == canonical);
  FUZZ_CHECK(again->size() == dir->size());
  FUZZ_CHECK(again->entries().size() == dir->entries().size());
  for (const auto& e : dir->entries()) {
    const auto* found = dir->Find(e.name.str());
    FUZZ_CHECK(found != nullptr && *found == e);
  }
  return 0;
}
