#include "nix/compression.h"

#include <bzlib.h>
#include <lzma.h>
#include <zstd.h>
#include <zstd_errors.h>

#include <algorithm>
#include <climits>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "nix/encoding.h"

namespace castor::nix {
namespace {

constexpr size_t kBufferSize = 64 * 1024;
// The most an xz header may make the decoder allocate (xz -9 needs 65 MiB).
constexpr uint64_t kXzMemLimit = 256 << 20;
// zstd windows up to 128 MiB (zstd's own default limit; --long=27).
constexpr int kZstdWindowLogMax = 27;

absl::Status Corrupt(std::string_view name, std::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(ToAbslView(name), ": ", ToAbslView(why)));
}

class NoneCodec : public Codec {
 public:
  absl::StatusOr<Step> Process(std::string_view in, std::span<char> out, bool finish) override {
    size_t n = std::min(in.size(), out.size());
    std::memcpy(out.data(), in.data(), n);
    return Step{n, n, finish && n == in.size()};
  }
  std::string_view name() const override { return "uncompressed stream"; }
};

class XzCodec : public Codec {
 public:
  explicit XzCodec(bool encode) : encode_(encode) {}
  ~XzCodec() override { lzma_end(&s_); }
  absl::Status Init(int level) {
    lzma_ret r = encode_ ? lzma_easy_encoder(&s_, level == 0 ? 6 : level, LZMA_CHECK_CRC64)
                         : lzma_stream_decoder(&s_, kXzMemLimit, 0);
    if (r == LZMA_OK) return absl::OkStatus();
    if (r == LZMA_OPTIONS_ERROR) {
      return absl::InvalidArgumentError(absl::StrCat("invalid xz level ", level));
    }
    return absl::ResourceExhaustedError(
        absl::StrCat(ToAbslView(name()), ": cannot initialise liblzma"));
  }
  absl::StatusOr<Step> Process(std::string_view in, std::span<char> out, bool finish) override {
    s_.next_in = reinterpret_cast<const uint8_t*>(in.data());
    s_.avail_in = in.size();
    s_.next_out = reinterpret_cast<uint8_t*>(out.data());
    s_.avail_out = out.size();
    lzma_ret r = lzma_code(&s_, finish ? LZMA_FINISH : LZMA_RUN);
    Step step{in.size() - s_.avail_in, out.size() - s_.avail_out, r == LZMA_STREAM_END};
    switch (r) {
      case LZMA_OK:
      case LZMA_STREAM_END:
        return step;
      case LZMA_BUF_ERROR:  // no progress possible: input ended early
        if (finish) return Corrupt(name(), "truncated stream");
        return step;
      case LZMA_MEMLIMIT_ERROR:
        return absl::ResourceExhaustedError(absl::StrCat(ToAbslView(name()),
                                                         ": the stream needs more than ",
                                                         kXzMemLimit >> 20, " MiB to decode"));
      case LZMA_MEM_ERROR:
        return absl::ResourceExhaustedError(absl::StrCat(ToAbslView(name()), ": out of memory"));
      case LZMA_FORMAT_ERROR:
        return Corrupt(name(), "not xz data");
      case LZMA_OPTIONS_ERROR:
        return Corrupt(name(), "unsupported options");
      case LZMA_DATA_ERROR:
        return Corrupt(name(), "corrupt data");
      default:
        return Corrupt(name(), absl::StrCat("liblzma error ", static_cast<int>(r)));
    }
  }
  std::string_view name() const override { return encode_ ? "xz compression" : "xz decompression"; }

 private:
  const bool encode_;
  lzma_stream s_ = LZMA_STREAM_INIT;
};

class Bzip2Codec : public Codec {
 public:
  explicit Bzip2Codec(bool encode) : encode_(encode) {}
  ~Bzip2Codec() override {
    if (!initialised_) return;
    if (encode_) {
      BZ2_bzCompressEnd(&s_);
    } else {
      BZ2_bzDecompressEnd(&s_);
    }
  }
  absl::Status Init(int level) {
    if (level < 0 || level > 9) {
      return absl::InvalidArgumentError(absl::StrCat("invalid bzip2 level ", level));
    }
    int r = encode_ ? BZ2_bzCompressInit(&s_, level == 0 ? 9 : level, 0, 0)
                    : BZ2_bzDecompressInit(&s_, 0, 0);
    if (r != BZ_OK) {
      return absl::ResourceExhaustedError(
          absl::StrCat(ToAbslView(name()), ": cannot initialise libbz2"));
    }
    initialised_ = true;
    return absl::OkStatus();
  }
  absl::StatusOr<Step> Process(std::string_view in, std::span<char> out, bool finish) override {
    // libbz2 refuses a BZ_RUN without input; its pending output comes later.
    if (encode_ && !finish && in.empty()) return Step{};
    // libbz2 counts in unsigned int.
    const size_t in_n = std::min<size_t>(in.size(), UINT_MAX);
    const size_t out_n = std::min<size_t>(out.size(), UINT_MAX);
    s_.next_in = const_cast<char*>(in.data());
    s_.avail_in = static_cast<unsigned>(in_n);
    s_.next_out = out.data();
    s_.avail_out = static_cast<unsigned>(out_n);
    int r = encode_ ? BZ2_bzCompress(&s_, finish && in_n == in.size() ? BZ_FINISH : BZ_RUN)
                    : BZ2_bzDecompress(&s_);
    Step step{in_n - s_.avail_in, out_n - s_.avail_out, r == BZ_STREAM_END};
    switch (r) {
      case BZ_OK:
      case BZ_RUN_OK:
      case BZ_FINISH_OK:
      case BZ_STREAM_END:
        if (!encode_ && finish && !step.done && step.consumed == 0 && step.produced == 0) {
          return Corrupt(name(), "truncated stream");
        }
        return step;
      case BZ_MEM_ERROR:
        return absl::ResourceExhaustedError(absl::StrCat(ToAbslView(name()), ": out of memory"));
      case BZ_DATA_ERROR_MAGIC:
        return Corrupt(name(), "not bzip2 data");
      case BZ_DATA_ERROR:
        return Corrupt(name(), "corrupt data");
      default:
        return Corrupt(name(), absl::StrCat("libbz2 error ", r));
    }
  }
  std::string_view name() const override {
    return encode_ ? "bzip2 compression" : "bzip2 decompression";
  }

 private:
  const bool encode_;
  bool initialised_ = false;
  bz_stream s_{};
};

class ZstdEncoder : public Codec {
 public:
  ~ZstdEncoder() override { ZSTD_freeCCtx(c_); }
  absl::Status Init(int level) {
    c_ = ZSTD_createCCtx();
    if (c_ == nullptr) return absl::ResourceExhaustedError("zstd compression: out of memory");
    if (level < 0 || level > ZSTD_maxCLevel()) {
      return absl::InvalidArgumentError(absl::StrCat("invalid zstd level ", level));
    }
    size_t r = ZSTD_CCtx_setParameter(c_, ZSTD_c_compressionLevel, level == 0 ? 3 : level);
    // A frame checksum, as the zstd tool writes: without it corruption in
    // the data can decode silently.
    if (!ZSTD_isError(r)) r = ZSTD_CCtx_setParameter(c_, ZSTD_c_checksumFlag, 1);
    if (ZSTD_isError(r)) return absl::InvalidArgumentError(ZSTD_getErrorName(r));
    return absl::OkStatus();
  }
  absl::StatusOr<Step> Process(std::string_view in, std::span<char> out, bool finish) override {
    ZSTD_inBuffer ib{in.data(), in.size(), 0};
    ZSTD_outBuffer ob{out.data(), out.size(), 0};
    size_t r = ZSTD_compressStream2(c_, &ob, &ib, finish ? ZSTD_e_end : ZSTD_e_continue);
    if (ZSTD_isError(r)) {
      return absl::InternalError(absl::StrCat(ToAbslView(name()), ": ", ZSTD_getErrorName(r)));
    }
    return Step{ib.pos, ob.pos, finish && r == 0 && ib.pos == in.size()};
  }
  std::string_view name() const override { return "zstd compression"; }

 private:
  ZSTD_CCtx* c_ = nullptr;
};

class ZstdDecoder : public Codec {
 public:
  ~ZstdDecoder() override { ZSTD_freeDCtx(d_); }
  absl::Status Init() {
    d_ = ZSTD_createDCtx();
    if (d_ == nullptr) return absl::ResourceExhaustedError("zstd decompression: out of memory");
    size_t r = ZSTD_DCtx_setParameter(d_, ZSTD_d_windowLogMax, kZstdWindowLogMax);
    if (ZSTD_isError(r)) return absl::InternalError(ZSTD_getErrorName(r));
    return absl::OkStatus();
  }
  absl::StatusOr<Step> Process(std::string_view in, std::span<char> out, bool finish) override {
    ZSTD_inBuffer ib{in.data(), in.size(), 0};
    ZSTD_outBuffer ob{out.data(), out.size(), 0};
    size_t r = ZSTD_decompressStream(d_, &ob, &ib);
    if (ZSTD_isError(r)) {
      if (ZSTD_getErrorCode(r) == ZSTD_error_frameParameter_windowTooLarge) {
        return absl::ResourceExhaustedError(
            absl::StrCat(ToAbslView(name()), ": the stream needs a window of more than ",
                         (1 << kZstdWindowLogMax) >> 20, " MiB"));
      }
      if (frames_done_ && !frame_open_) {
        return Corrupt(name(), absl::StrCat("bytes after the end of the stream are not a zstd "
                                            "frame (",
                                            ZSTD_getErrorName(r), ")"));
      }
      return Corrupt(name(), ZSTD_getErrorName(r));
    }
    // r == 0: a frame ended and all of it was flushed; another may follow.
    const bool progress = ib.pos > 0 || ob.pos > 0;
    if (progress) frame_open_ = r != 0;
    if (progress && r == 0) frames_done_ = true;
    const bool input_done = finish && ib.pos == in.size();
    if (input_done && !frame_open_) {
      if (!frames_done_) return Corrupt(name(), "no zstd frame in the input");
      return Step{ib.pos, ob.pos, true};
    }
    if (input_done && !progress) return Corrupt(name(), "truncated stream");
    return Step{ib.pos, ob.pos, false};
  }
  std::string_view name() const override { return "zstd decompression"; }

 private:
  ZSTD_DCtx* d_ = nullptr;
  bool frame_open_ = false;   // inside a frame (or its output not all flushed)
  bool frames_done_ = false;  // at least one whole frame decoded
};

}  // namespace

std::string_view CompressionName(Compression c) {
  switch (c) {
    case Compression::kNone:
      return "none";
    case Compression::kXz:
      return "xz";
    case Compression::kBzip2:
      return "bzip2";
    case Compression::kZstd:
      return "zstd";
  }
  CASTOR_CHECK(false);
  return "";
}

std::string_view CompressionExtension(Compression c) {
  switch (c) {
    case Compression::kNone:
      return "";
    case Compression::kXz:
      return ".xz";
    case Compression::kBzip2:
      return ".bz2";
    case Compression::kZstd:
      return ".zst";
  }
  CASTOR_CHECK(false);
  return "";
}

absl::StatusOr<Compression> ParseCompression(std::string_view name) {
  for (Compression c :
       {Compression::kNone, Compression::kXz, Compression::kBzip2, Compression::kZstd}) {
    if (name == CompressionName(c)) return c;
  }
  return absl::InvalidArgumentError(absl::StrCat("unsupported compression ", QuoteText(name),
                                                 ": expected none, xz, bzip2 or zstd"));
}

absl::StatusOr<std::unique_ptr<Codec>> MakeCompressor(Compression c, int level) {
  switch (c) {
    case Compression::kNone:
      return std::make_unique<NoneCodec>();
    case Compression::kXz: {
      auto codec = std::make_unique<XzCodec>(/*encode=*/true);
      RETURN_IF_ERROR(codec->Init(level));
      return codec;
    }
    case Compression::kBzip2: {
      auto codec = std::make_unique<Bzip2Codec>(/*encode=*/true);
      RETURN_IF_ERROR(codec->Init(level));
      return codec;
    }
    case Compression::kZstd: {
      auto codec = std::make_unique<ZstdEncoder>();
      RETURN_IF_ERROR(codec->Init(level));
      return codec;
    }
  }
  CASTOR_CHECK(false);
  return nullptr;
}

absl::StatusOr<std::unique_ptr<Codec>> MakeDecompressor(Compression c) {
  switch (c) {
    case Compression::kNone:
      return std::make_unique<NoneCodec>();
    case Compression::kXz: {
      auto codec = std::make_unique<XzCodec>(/*encode=*/false);
      RETURN_IF_ERROR(codec->Init(0));
      return codec;
    }
    case Compression::kBzip2: {
      auto codec = std::make_unique<Bzip2Codec>(/*encode=*/false);
      RETURN_IF_ERROR(codec->Init(0));
      return codec;
    }
    case Compression::kZstd: {
      auto codec = std::make_unique<ZstdDecoder>();
      RETURN_IF_ERROR(codec->Init());
      return codec;
    }
  }
  CASTOR_CHECK(false);
  return nullptr;
}

CodecSink::CodecSink(std::unique_ptr<Codec> codec, ByteSink& downstream, uint64_t max_output)
    : codec_(std::move(codec)),
      downstream_(downstream),
      max_output_(max_output),
      buffer_(kBufferSize) {}

absl::Status CodecSink::Run(std::string_view data, bool finish) {
  if (!failure_.ok()) return failure_;
  auto fail = [&](absl::Status s) {
    failure_ = s;
    return s;
  };
  for (;;) {
    if (done_) {
      if (!data.empty()) {
        return fail(Corrupt(codec_->name(), "bytes after the end of the stream"));
      }
      return absl::OkStatus();
    }
    auto step = codec_->Process(data, buffer_, finish);
    if (!step.ok()) return fail(step.status());
    data.remove_prefix(step->consumed);
    if (step->produced > 0) {
      if (step->produced > max_output_ - out_total_) {
        return fail(absl::ResourceExhaustedError(absl::StrCat(
            ToAbslView(codec_->name()), ": output exceeds the limit of ", max_output_, " bytes")));
      }
      out_total_ += step->produced;
      absl::Status s = downstream_.Write(std::string_view(buffer_.data(), step->produced));
      if (!s.ok()) return fail(s);
    }
    done_ = step->done;
    if (done_) continue;
    const bool buffer_filled = step->produced == buffer_.size();
    if (!finish && data.empty() && !buffer_filled) return absl::OkStatus();
    if (step->consumed == 0 && step->produced == 0) {
      return fail(
          finish ? Corrupt(codec_->name(), "truncated stream")
                 : absl::InternalError(absl::StrCat(ToAbslView(codec_->name()), ": no progress")));
    }
  }
}

absl::Status CodecSink::Write(std::string_view data) {
  // Codecs want progress on every call (libbz2 refuses an empty BZ_RUN).
  if (data.empty()) return failure_;
  return Run(data, /*finish=*/false);
}

absl::Status CodecSink::Close() { return Run({}, /*finish=*/true); }

CodecSource::CodecSource(std::unique_ptr<Codec> codec, ByteSource& upstream, uint64_t max_output)
    : codec_(std::move(codec)), upstream_(upstream), max_output_(max_output), in_(kBufferSize) {}

absl::StatusOr<size_t> CodecSource::Read(std::span<char> buf) {
  if (!failure_.ok()) return failure_;
  auto fail = [&](absl::Status s) -> absl::StatusOr<size_t> {
    failure_ = s;
    return s;
  };
  // Once the codec is done, the input must be over too.
  auto finish_input = [&]() -> absl::Status {
    if (in_pos_ < in_end_) return Corrupt(codec_->name(), "bytes after the end of the stream");
    while (!upstream_done_) {
      ASSIGN_OR_RETURN(size_t n, upstream_.Read(in_));
      if (n > 0) return Corrupt(codec_->name(), "bytes after the end of the stream");
      upstream_done_ = true;
    }
    return absl::OkStatus();
  };
  if (done_) return 0;
  for (;;) {
    if (in_pos_ == in_end_ && !upstream_done_) {
      auto n = upstream_.Read(in_);
      if (!n.ok()) return fail(n.status());
      in_pos_ = 0;
      in_end_ = *n;
      if (*n == 0) upstream_done_ = true;
    }
    std::string_view input(in_.data() + in_pos_, in_end_ - in_pos_);
    auto step = codec_->Process(input, buf, /*finish=*/upstream_done_);
    if (!step.ok()) return fail(step.status());
    in_pos_ += step->consumed;
    if (step->produced > max_output_ - out_total_) {
      return fail(absl::ResourceExhaustedError(absl::StrCat(
          ToAbslView(codec_->name()), ": output exceeds the limit of ", max_output_, " bytes")));
    }
    out_total_ += step->produced;
    if (step->done) {
      done_ = true;
      absl::Status s = finish_input();
      if (!s.ok()) return fail(s);
    }
    if (step->produced > 0 || done_) return step->produced;
    if (step->consumed == 0) {
      if (upstream_done_) return fail(Corrupt(codec_->name(), "truncated stream"));
      if (in_pos_ < in_end_) {
        return fail(absl::InternalError(absl::StrCat(ToAbslView(codec_->name()), ": no progress")));
      }
    }
  }
}

absl::StatusOr<std::string> Compress(Compression c, std::string_view data, int level) {
  ASSIGN_OR_RETURN(auto codec, MakeCompressor(c, level));
  StringSink out;
  CodecSink sink(std::move(codec), out);
  RETURN_IF_ERROR(sink.Write(data));
  RETURN_IF_ERROR(sink.Close());
  return out.Take();
}

absl::StatusOr<std::string> Decompress(Compression c, std::string_view data, uint64_t max_output) {
  ASSIGN_OR_RETURN(auto codec, MakeDecompressor(c));
  StringSink out;
  CodecSink sink(std::move(codec), out, max_output);
  RETURN_IF_ERROR(sink.Write(data));
  RETURN_IF_ERROR(sink.Close());
  return out.Take();
}

}  // namespace castor::nix
