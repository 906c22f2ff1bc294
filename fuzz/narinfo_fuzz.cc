// libFuzzer target: castor::nix::NarInfo::Parse on untrusted narinfo text
// (what a client PUTs to the binary cache). Accepted text must render to a
// narinfo that parses to the same value and renders to the same bytes, and
// its fingerprint must be computable; rejected text must be InvalidArgument
// with a message.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz/fuzz_check.h"
#include "nix/narinfo.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto info = castor::nix::NarInfo::Parse(text);
  if (!info.ok()) {
    FUZZ_CHECK(info.status().code() == absl::StatusCode::kInvalidArgument);
    FUZZ_CHECK(!info.status().message().empty());
    return 0;
  }
  std::string rendered = info->Render();
  auto again = castor::nix::NarInfo::Parse(rendered);
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(again->Render() == rendered);
  FUZZ_CHECK(again->store_path == info->store_path);
  FUZZ_CHECK(again->nar_hash == info->nar_hash);
  FUZZ_CHECK(again->nar_size == info->nar_size);
  FUZZ_CHECK(again->references == info->references);
  FUZZ_CHECK(again->signatures == info->signatures);
  FUZZ_CHECK(again->ca == info->ca);
  FUZZ_CHECK(again->deriver == info->deriver);
  FUZZ_CHECK(again->Fingerprint() == info->Fingerprint());
  return 0;
}
