// libFuzzer target: castor::nix::ImportNar (NAR -> castore) on untrusted
// bytes, end to end into in-memory services. The oracle is NAR's canonical
// form: a NAR that imports must render back from castore (RenderNar) to
// exactly the bytes the import read, with the same size and SHA-256 the
// import reported; so no file byte, executable bit, symlink target, name or
// order can change on the way into castore and back. Input that does not
// import must fail with InvalidArgument (the NAR reader's and the tree
// builder's refusals) and leave no Directory behind. Corpus: the
// nar_reader_fuzz seeds are NARs too.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "castore/blob/memory_blob_service.h"
#include "castore/directory/memory_directory_service.h"
#include "fuzz/fuzz_check.h"
#include "nix/castore_nar.h"
#include "nix/io.h"
#include "nix/nar_import.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  castor::castore::MemoryBlobService blobs;
  castor::castore::MemoryDirectoryService directories;
  castor::nix::StringSource source(input);
  // A shallow depth bound keeps deep inputs cheap; the reader enforces it.
  auto imported =
      castor::nix::ImportNar(blobs, directories, source, castor::nix::NarLimits{.max_depth = 64});
  if (!imported.ok()) {
    FUZZ_CHECK(imported.status().code() == absl::StatusCode::kInvalidArgument);
    size_t stored = 0;
    FUZZ_CHECK(directories
                   .ForEach([&](const castor::castore::B3Digest&) {
                     ++stored;
                     return absl::OkStatus();
                   })
                   .ok());
    FUZZ_CHECK(stored == 0);
    return 0;
  }
  FUZZ_CHECK(imported->nar.nar_size <= size);
  const std::string_view read = input.substr(0, imported->nar.nar_size);
  FUZZ_CHECK(imported->nar.nar_sha256 ==
             castor::nix::NixHash::Of(castor::nix::HashAlgo::kSha256, read));
  castor::nix::StringSink sink;
  auto rendered = castor::nix::RenderNar(blobs, directories, imported->node, sink);
  FUZZ_CHECK(rendered.ok());
  FUZZ_CHECK(sink.str() == read);
  FUZZ_CHECK(rendered->nar_size == imported->nar.nar_size);
  FUZZ_CHECK(rendered->nar_sha256 == imported->nar.nar_sha256);
  return 0;
}
