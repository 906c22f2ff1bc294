// libFuzzer target: castore::Directory::Decode on untrusted protobuf bytes.
// Accepted input must re-encode to canonical bytes that decode again to the
// same Directory (same digest, same canonical bytes, digest = BLAKE3 of
// them); rejected input must be InvalidArgument with a message.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "castore/digest.h"
#include "castore/directory.h"
#include "fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto dir = castor::castore::Directory::Decode(bytes);
  if (!dir.ok()) {
    FUZZ_CHECK(dir.status().code() == absl::StatusCode::kInvalidArgument);
    FUZZ_CHECK(!dir.status().message().empty());
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
