// FastCDC content-defined chunking (Xia et al., 2020: gear hash, sub-minimum
// skipping, normalized chunking), cut for cut the same as the Rust `fastcdc`
// crate's v2020 chunker, which snix uses for its object-store blobs. Equal
// parameters give equal chunk boundaries, so castor and snix chunks of the
// same bytes deduplicate against each other.
//
// Two levels: FastCdc finds boundaries in a stream without holding any of
// its bytes (only the rolling hash and the length of the chunk in progress);
// FastCdcChunker buffers the chunk in progress (at most max_size bytes) and
// hands out each chunk's bytes. Both are thread-compatible (one stream at a
// time).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace castor::chunking {

struct FastCdcParams {
  uint32_t min_size = 0;
  uint32_t avg_size = 0;
  uint32_t max_size = 0;
  // Normalized chunking level 0..3: the hash mask has avg's bit count +level
  // bits before avg_size and -level bits after it (the crate's default is 1).
  int normalization = 1;

  // snix's object-store blob service: min = avg/2, avg = 256 KiB, max = 2*avg.
  static FastCdcParams Snix();
};

class FastCdc {
 public:
  // Checks the crate's bounds (64 <= min <= 1 MiB, 256 <= avg <= 4 MiB,
  // 1 KiB <= max <= 16 MiB), min <= avg <= max and the level: InvalidArgument
  // naming the bad value otherwise.
  static absl::StatusOr<FastCdc> Create(const FastCdcParams& params);

  struct ScanResult {
    size_t consumed = 0;  // bytes of `data` taken into the stream
    // Set when a chunk ended: its end as a stream offset; the next chunk
    // starts there.
    std::optional<uint64_t> chunk_end;
  };

  // Scans `data`, the stream's next bytes, up to the first chunk end it can
  // decide, and returns how far it got; call again with the bytes not
  // consumed. A chunk end can lie up to one byte before `data` (the byte
  // right after a candidate end decides it; then nothing is consumed).
  ScanResult Scan(std::span<const uint8_t> data);

  // The end of the stream: the end offset of the last chunk, nullopt when
  // the stream was empty or ended on a boundary. Resets for a new stream.
  std::optional<uint64_t> Finish();

  // Bytes of the stream consumed so far.
  uint64_t offset() const { return offset_; }

  // The gear hash at the last chunk end reported (the crate's Chunk::hash;
  // 0 for a chunk that ended before any byte was hashed).
  uint64_t last_hash() const { return last_hash_; }

  const FastCdcParams& params() const { return params_; }

 private:
  explicit FastCdc(const FastCdcParams& params);
  // Ends the chunk in progress with `hash`; the next one already holds
  // `carried` bytes.
  void EndChunk(uint64_t hash, uint64_t carried);

  FastCdcParams params_;
  uint64_t mask_s_ = 0;  // before avg_end_: harder to match
  uint64_t mask_l_ = 0;  // from avg_end_ on: easier to match
  // Hashing covers chunk positions [scan_start_, scan_end_), with the small
  // mask below avg_end_. All three are even: the crate hashes two bytes per
  // step, so a bound it derives from an odd size drops the odd last byte.
  uint64_t scan_start_ = 0;
  uint64_t avg_end_ = 0;
  uint64_t scan_end_ = 0;

  uint64_t offset_ = 0;     // stream bytes consumed
  uint64_t pos_ = 0;        // bytes of the chunk in progress consumed
  uint64_t hash_ = 0;       // gear hash over the scanned bytes of that chunk
  uint64_t prev_hash_ = 0;  // hash_ before its last byte was mixed in
  // The hash matched at an even position that was the last byte consumed.
  // The crate tests an even position only when the byte after it exists, so
  // this is a chunk end once one more byte comes, and nothing at the end.
  bool pending_ = false;
  uint64_t last_hash_ = 0;
};

struct ChunkSpan {
  uint64_t offset = 0;
  uint64_t length = 0;
  uint64_t hash = 0;  // FastCdc::last_hash() for this chunk
};

// Every chunk of `data` as one stream (what the crate's FastCDC iterator
// yields over a slice). Resets `cdc` first.
std::vector<ChunkSpan> ChunkAll(FastCdc& cdc, std::span<const uint8_t> data);

// Buffers a stream and hands out its chunks' bytes, in order. Memory: one
// buffer of at most max_size bytes.
class FastCdcChunker {
 public:
  using ChunkCallback = absl::FunctionRef<absl::Status(std::span<const uint8_t> chunk)>;

  explicit FastCdcChunker(FastCdc cdc);

  // Appends `data`; calls `on_chunk` for each chunk it completes (the span
  // is valid during the call). Stops at the first error `on_chunk` returns
  // and returns it; the stream is then broken (Reset before reuse).
  absl::Status Write(std::span<const uint8_t> data, ChunkCallback on_chunk);

  // Ends the stream: hands out the last chunk (if any) and resets.
  absl::Status Finish(ChunkCallback on_chunk);

  // Drops the stream in progress.
  void Reset();

 private:
  FastCdc cdc_;
  std::string buffer_;  // the chunk in progress, from stream offset start_
  uint64_t start_ = 0;
};

}  // namespace castor::chunking
