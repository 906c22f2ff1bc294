// libFuzzer target: text an operator or a peer hands us. The input is split
// at its first NUL byte: the part before it goes to B3Digest::Parse, the
// whole input to ServiceAddress::Parse and, only for schemes that open
// nothing on disk or the network (memory, and unknown ones), to the
// Open*Service factories.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "castore/composition.h"
#include "castore/digest.h"
#include "fuzz/fuzz_check.h"

namespace {

using castor::castore::B3Digest;

void CheckDigest(std::string_view text) {
  auto d = B3Digest::Parse(text);
  if (!d.ok()) {
    FUZZ_CHECK(d.status().code() == absl::StatusCode::kInvalidArgument);
    FUZZ_CHECK(!d.status().message().empty());
    return;
  }
  // Both text forms round-trip to the same digest.
  auto from_hex = B3Digest::Parse(d->ToHex());
  FUZZ_CHECK(from_hex.ok() && *from_hex == *d);
  auto from_b3 = B3Digest::Parse(d->ToB3());
  FUZZ_CHECK(from_b3.ok() && *from_b3 == *d);
  auto from_raw = B3Digest::FromBytes(d->raw());
  FUZZ_CHECK(from_raw.ok() && *from_raw == *d);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  CheckDigest(text.substr(0, text.find('\0')));
  // Raw bytes of length 32 are always a digest.
  if (size == B3Digest::kSize) FUZZ_CHECK(B3Digest::FromBytes(text).ok());

  auto addr = castor::castore::ServiceAddress::Parse(text);
  if (!addr.ok()) {
    FUZZ_CHECK(!addr.status().message().empty());
    return 0;
  }
  FUZZ_CHECK(!addr->scheme.empty());
  // Only schemes that cannot create files or connect anywhere are opened:
  // memory, and names no backend in this binary registers (castore alone
  // links no gRPC client), which must fail cleanly.
  if (addr->scheme == "file" || addr->scheme == "lmdb") return 0;
  auto blobs = castor::castore::OpenBlobService(text);
  auto dirs = castor::castore::OpenDirectoryService(text);
  auto roots = castor::castore::OpenRootService(text);
  if (addr->scheme != "memory") {
    FUZZ_CHECK(!blobs.ok() && !dirs.ok() && !roots.ok());
    FUZZ_CHECK(!blobs.status().message().empty());
  }
  return 0;
}
