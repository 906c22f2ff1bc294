#include "castore/blob/chunk_layout.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "castore/store_metrics.h"

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

namespace {

// The group size of an outboard of `outboard_size` bytes for a blob of
// `size` bytes: n groups take 8 + 64 (n - 1) bytes, and for n >= 2 only one
// power of two gives that many groups.
std::optional<uint64_t> OutboardGroupSize(uint64_t outboard_size, uint64_t size) {
  if (outboard_size < 8 + 64 || (outboard_size - 8) % 64 != 0) return std::nullopt;
  const uint64_t groups = (outboard_size - 8) / 64 + 1;
  for (uint64_t g = blake3_tree::kChunkLen; g <= kMaxLayoutChunkSize; g *= 2) {
    if (blake3_tree::GroupCount(size, g) == groups) return g;
  }
  return std::nullopt;
}

}  // namespace

size_t ChunkLayout::ChunkAt(uint64_t at) const {
  CASTOR_CHECK(content_defined() && at < size);
  auto it = std::upper_bound(chunk_offsets.begin(), chunk_offsets.end(), at);
  return static_cast<size_t>(it - chunk_offsets.begin()) - 1;
}

ChunkLayout ContentDefinedLayout(const B3Digest& digest, std::vector<ChunkMeta> chunks,
                                 uint64_t group_size, std::vector<blake3_tree::Cv> cvs) {
  ChunkLayout layout;
  layout.digest = digest;
  layout.chunk_size = group_size;
  layout.chunk_offsets.reserve(chunks.size());
  for (const ChunkMeta& c : chunks) {
    layout.chunk_offsets.push_back(layout.size);
    layout.size += c.size;
  }
  layout.chunks = std::move(chunks);
  layout.cvs = std::move(cvs);
  CASTOR_CHECK(blake3_tree::IsValidGroupSize(group_size) &&
               (layout.cvs.empty()
                    ? layout.size <= group_size
                    : layout.cvs.size() == blake3_tree::GroupCount(layout.size, group_size)));
  return layout;
}

absl::StatusOr<std::optional<ChunkLayout>> VerifyChunkLayout(const B3Digest& digest,
                                                             std::vector<ChunkMeta> chunks,
                                                             std::string_view outboard) {
  if (outboard.empty() || chunks.size() < 2) return std::nullopt;
  const uint64_t first = chunks[0].size;
  bool fixed = blake3_tree::IsValidGroupSize(first) && first <= kMaxLayoutChunkSize;
  uint64_t size = 0;
  for (size_t i = 0; i < chunks.size(); ++i) {
    const uint64_t s = chunks[i].size;
    if (s == 0) {
      return absl::DataLossError(absl::StrCat("blob ", digest.ToB3(), ": chunk ", i, " is empty"));
    }
    // Readers hold whole chunks in memory: bigger ones are read whole.
    if (s > kMaxLayoutChunkSize) return std::nullopt;
    if (i + 1 == chunks.size() ? s > first : s != first) fixed = false;
    size += s;
  }
  // Chunks of one power-of-two size may still be content-defined ones that
  // happen to be cut alike (FastCDC cuts runs of equal bytes at its maximum
  // size): the outboard's length tells which group size it was made for.
  std::optional<uint64_t> group = OutboardGroupSize(outboard.size(), size);
  if (fixed && (group == first || !group.has_value())) {
    ASSIGN_OR_RETURN(std::vector<blake3_tree::Cv> cvs,
                     blake3_tree::VerifyOutboard(outboard, size, first, digest));
    if (cvs.size() != chunks.size()) {
      return absl::DataLossError(absl::StrCat("blob ", digest.ToB3(), ": ", chunks.size(),
                                              " chunks but ", cvs.size(), " in the outboard"));
    }
    ChunkLayout layout;
    layout.digest = digest;
    layout.size = size;
    layout.chunk_size = first;
    layout.chunks = std::move(chunks);
    layout.cvs = std::move(cvs);
    return layout;
  }
  // Content-defined chunks: the outboard's groups are its own.
  if (!group.has_value()) {
    return absl::DataLossError(absl::StrCat("blob ", digest.ToB3(), ": an outboard of ",
                                            outboard.size(), " bytes fits no group size for ", size,
                                            " bytes"));
  }
  ASSIGN_OR_RETURN(std::vector<blake3_tree::Cv> cvs,
                   blake3_tree::VerifyOutboard(outboard, size, *group, digest));
  return ContentDefinedLayout(digest, std::move(chunks), *group, std::move(cvs));
}

absl::Status VerifyChunk(const ChunkLayout& layout, size_t index, std::span<const uint8_t> data) {
  CASTOR_CHECK(index < layout.count());
  auto fail = [&](std::string_view what) {
    std::string chunk =
        layout.chunks.empty() || layout.content_defined()
            ? absl::StrCat("bytes ", layout.offset(index), "..",
                           layout.offset(index) + layout.length(index))
            : absl::StrCat("chunk ", index, " (", layout.chunks[index].digest.ToB3(), ")");
    store_metrics::VerificationFailure(store_metrics::Verified::kChunk);
    return absl::DataLossError(
        absl::StrCat(chunk, " of blob ", layout.digest.ToB3(), ": ", ToAbslView(what)));
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

absl::Status VerifyStoredChunk(const ChunkLayout& layout, size_t index,
                               std::span<const uint8_t> data) {
  CASTOR_CHECK(index < layout.chunks.size());
  const ChunkMeta& meta = layout.chunks[index];
  auto fail = [&](std::string_view what) {
    store_metrics::VerificationFailure(store_metrics::Verified::kChunk);
    return absl::DataLossError(absl::StrCat("chunk ", index, " (", meta.digest.ToB3(), ") of blob ",
                                            layout.digest.ToB3(), ": ", ToAbslView(what)));
  };
  if (data.size() != meta.size) {
    return fail(absl::StrCat("got ", data.size(), " bytes, expected ", meta.size));
  }
  if (B3Digest::Of(data) != meta.digest) return fail("bytes do not match its digest");
  return absl::OkStatus();
}

}  // namespace castor::castore
