// libFuzzer target: castore::DecodeEntry (root values on disk and on the
// wire, tvix.castore.v1.Node). Accepted input re-encodes to bytes that
// decode to the same Entry, and that encoding is stable; rejected input is
// InvalidArgument with a message.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "castore/node.h"
#include "fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto entry = castor::castore::DecodeEntry(bytes);
  if (!entry.ok()) {
    FUZZ_CHECK(entry.status().code() == absl::StatusCode::kInvalidArgument);
    FUZZ_CHECK(!entry.status().message().empty());
    return 0;
  }
  std::string canonical = castor::castore::EncodeEntry(*entry);
  auto again = castor::castore::DecodeEntry(canonical);
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(*again == *entry);
  FUZZ_CHECK(castor::castore::EncodeEntry(*again) == canonical);
  FUZZ_CHECK(!castor::castore::NodeKind(entry->node).empty());
  return 0;
}
