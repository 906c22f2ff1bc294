#include "castore/blob/chunk_layout.h"

#include "absl/strings/str_cat.h"
#include "castore/status_macros.h"

namespace castor::castore {

ChunkLayout SingleChunkLayout(const B3Digest& digest, uint64_t size, uint64_t chunk_size) {
  CASTOR_CHECK(blake3_tree::IsValidGroupSize(chunk_size) && size <= chunk_size);
  return ChunkLayout{.digest = digest, .size = size, .chunk_size = chunk_size};
}

absl::StatusOr<ChunkLayout> ComputeChunkLayout(const BlobReader& reader, const B3Digest& digest,
                                               uint64_t chunk_size, bool chunk_digests) {
  const uint64_t size = reader.size();
  if (!blake3_tree::IsValidGroupSize(chunk_size) || size <= chunk_size) {
    return absl::InvalidArgumentError(absl::StrCat("blob ", digest.ToB3(), " of ", size,
                                                   " bytes cannot be laid out in chunks of ",
                                                   chunk_size));
  }
  ChunkLayout layout;
  layout.digest = digest;
  layout.size = size;
  layout.chunk_size = chunk_size;
  const uint64_t count = blake3_tree::GroupCount(size, chunk_size);
  layout.cvs.reserve(count);
  if (chunk_digests) layout.chunks.reserve(count);
  // Several small chunks per read: fewer calls into the reader.
  std::vector<uint8_t> buf(std::max<uint64_t>(chunk_size, 1 << 20));
  for (uint64_t at = 0; at < size; at += buf.size()) {
    const size_t want = std::min<uint64_t>(buf.size(), size - at);
    size_t got = 0;
    while (got < want) {
      ASSIGN_OR_RETURN(size_t n,
                       reader.ReadAt(at + got, std::span<uint8_t>(buf.data() + got, want - got)));
      if (n == 0) {
        return absl::DataLossError(
            absl::StrCat("blob ", digest.ToB3(), " ends at ", at + got, " of ", size, " bytes"));
      }
      got += n;
    }
    for (uint64_t off = 0; off < want; off += chunk_size) {
      std::span<const uint8_t> data(buf.data() + off, std::min<uint64_t>(chunk_size, want - off));
      if (chunk_digests) layout.chunks.push_back({B3Digest::Of(data), data.size()});
      layout.cvs.push_back(blake3_tree::GroupCv(data, at + off));
    }
  }
  if (blake3_tree::RootFromGroupCvs(layout.cvs) != digest) {
    return absl::DataLossError(
        absl::StrCat("blob ", digest.ToB3(), ": stored bytes do not match the digest"));
  }
  return layout;
}

absl::StatusOr<std::optional<ChunkLayout>> VerifyChunkLayout(const B3Digest& digest,
                                                             std::vector<ChunkMeta> chunks,
                                                             std::string_view outboard) {
  if (outboard.empty() || chunks.size() < 2) return std::nullopt;
  const uint64_t chunk_size = chunks[0].size;
  if (!blake3_tree::IsValidGroupSize(chunk_size) || chunk_size > kMaxLayoutChunkSize) {
    return std::nullopt;
  }
  uint64_t size = 0;
  for (size_t i = 0; i < chunks.size(); ++i) {
    const bool last = i + 1 == chunks.size();
    const uint64_t s = chunks[i].size;
    // Pieces of other sizes (e.g. tvix's content-defined chunks) are not a
    // layout this outboard can describe: the caller verifies the whole blob.
    if (last ? (s == 0 || s > chunk_size) : s != chunk_size) return std::nullopt;
    size += s;
  }
  ASSIGN_OR_RETURN(std::vector<blake3_tree::Cv> cvs,
                   blake3_tree::VerifyOutboard(outboard, size, chunk_size, digest));
  if (cvs.size() != chunks.size()) {
    return absl::DataLossError(absl::StrCat("blob ", digest.ToB3(), ": ", chunks.size(),
                                            " chunks but ", cvs.size(), " in the outboard"));
  }
  ChunkLayout layout;
  layout.digest = digest;
  layout.size = size;
  layout.chunk_size = chunk_size;
  layout.chunks = std::move(chunks);
  layout.cvs = std::move(cvs);
  return layout;
}

absl::Status VerifyChunk(const ChunkLayout& layout, size_t index, std::span<const uint8_t> data) {
  CASTOR_CHECK(index < layout.count());
  auto fail = [&](std::string_view what) {
    std::string chunk =
        layout.chunks.empty()
            ? absl::StrCat("bytes ", layout.offset(index), "..",
                           layout.offset(index) + layout.length(index))
            : absl::StrCat("chunk ", index, " (", layout.chunks[index].digest.ToB3(), ")");
    return absl::DataLossError(
        absl::StrCat(chunk, " of blob ", layout.digest.ToB3(), ": ", AV(what)));
  };
  if (data.size() != layout.length(index)) {
    return fail(absl::StrCat("got ", data.size(), " bytes, expected ", layout.length(index)));
  }
  if (layout.cvs.empty()) {
    if (B3Digest::Of(data) != layout.digest) return fail("bytes do not match the digest");
  } else if (blake3_tree::GroupCv(data, layout.offset(index)) != layout.cvs[index]) {
    return fail("bytes do not match the verified tree");
  }
  return absl::OkStatus();
}

}  // namespace castor::castore
