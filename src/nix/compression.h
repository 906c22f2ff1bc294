// Compression of NARs in transfer (binary cache URLs like nar/X.nar.xz):
// xz (liblzma), bzip2 (libbz2), zstd (libzstd) and none, both ways, as
// streaming codecs with bounded memory. A Codec turns input into output
// piecewise; CodecSink pushes written bytes through one into a downstream
// sink (compressing a NAR as it is rendered), CodecSource pulls bytes
// through one from an upstream source (decompressing a NAR as it is parsed).
// Both take an output limit: a decompression bomb fails with
// ResourceExhausted once it would exceed it, after at most one buffer's
// worth of output. Corrupt or truncated compressed data, or bytes after the
// end of the compressed stream, are InvalidArgument naming the format.
// (A zstd input may hold several frames, as zstd allows; xz and bzip2
// inputs are one stream each, which is what Nix writes.)
// Codecs, sinks and sources belong to one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "nix/io.h"

namespace castor::nix {

enum class Compression { kNone, kXz, kBzip2, kZstd };

// "none", "xz", "bzip2", "zstd" (narinfo's Compression values).
std::string_view CompressionName(Compression c);
// The file name extension Nix uses: "", ".xz", ".bz2", ".zst".
std::string_view CompressionExtension(Compression c);
// InvalidArgument naming the text for others (br, gzip, ...).
absl::StatusOr<Compression> ParseCompression(std::string_view name);

class Codec {
 public:
  virtual ~Codec() = default;
  struct Step {
    size_t consumed = 0;  // bytes of `in` used
    size_t produced = 0;  // bytes written to `out`
    bool done = false;    // the stream is complete (no more output will come)
  };
  // Consumes input and produces output, as much as fits. `finish` says that
  // `in` is the last of the input; then calls continue (with the rest of
  // the input) until done. A decoder is done at the end of the compressed
  // stream whatever `finish` says.
  virtual absl::StatusOr<Step> Process(std::string_view in, std::span<char> out, bool finish) = 0;
  // "xz compression", "zstd decompression", ... for messages.
  virtual std::string_view name() const = 0;
};

// Level: 0 for the library default (xz 6, bzip2 9, zstd 3).
absl::StatusOr<std::unique_ptr<Codec>> MakeCompressor(Compression c, int level = 0);
absl::StatusOr<std::unique_ptr<Codec>> MakeDecompressor(Compression c);

// Compresses (or decompresses) what is written into `downstream`. Close
// must be called to flush the end of the stream.
class CodecSink : public ByteSink {
 public:
  CodecSink(std::unique_ptr<Codec> codec, ByteSink& downstream, uint64_t max_output = kNoLimit);
  absl::Status Write(std::string_view data) override;
  // Finishes the stream: InvalidArgument when a decoder's stream is
  // incomplete.
  absl::Status Close();
  uint64_t bytes_out() const { return out_total_; }

 private:
  absl::Status Run(std::string_view data, bool finish);
  std::unique_ptr<Codec> codec_;
  ByteSink& downstream_;
  const uint64_t max_output_;
  std::vector<char> buffer_;
  uint64_t out_total_ = 0;
  bool done_ = false;
  absl::Status failure_;
};

// Reads `upstream` through the codec.
class CodecSource : public ByteSource {
 public:
  CodecSource(std::unique_ptr<Codec> codec, ByteSource& upstream, uint64_t max_output = kNoLimit);
  absl::StatusOr<size_t> Read(std::span<char> buf) override;
  uint64_t bytes_out() const { return out_total_; }

 private:
  std::unique_ptr<Codec> codec_;
  ByteSource& upstream_;
  const uint64_t max_output_;
  std::vector<char> in_;
  size_t in_pos_ = 0, in_end_ = 0;
  bool upstream_done_ = false;
  bool done_ = false;
  uint64_t out_total_ = 0;
  absl::Status failure_;
};

// Whole-buffer helpers (tests, small data).
absl::StatusOr<std::string> Compress(Compression c, std::string_view data, int level = 0);
absl::StatusOr<std::string> Decompress(Compression c, std::string_view data,
                                       uint64_t max_output = kNoLimit);

}  // namespace castor::nix
