// The compression codecs: round trips, Nix's own xz output, streaming in
// both directions, and hostile input (corrupt, truncated, trailing bytes,
// decompression bombs). Interoperability with the real Nix for all three
// formats is in nix_cache_test.cc.
#include "nix/compression.h"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "castore/testing/paths.h"
#include "castore/testing/subprocess.h"
#include "castore/testing/temp_dir.h"
#include "nix/hash.h"
#include "nix/narinfo.h"
#include "nix/testing/golden.h"

namespace castor::nix {
namespace {

constexpr Compression kAll[] = {Compression::kNone, Compression::kXz, Compression::kBzip2,
                                Compression::kZstd};
constexpr Compression kCompressing[] = {Compression::kXz, Compression::kBzip2, Compression::kZstd};

std::string Sample(size_t n) {
  std::string s(n, '\0');
  uint32_t x = 12345;
  for (size_t i = 0; i < n; ++i) {
    x = x * 1103515245 + 12345;
    // Compressible, but not trivially.
    s[i] = static_cast<char>("abcdefgh"[(x >> 16) % 8] + (i % 1000 == 0 ? 1 : 0));
  }
  return s;
}

TEST(Compression, NamesAndExtensionsAreNixs) {
  EXPECT_EQ(*ParseCompression("xz"), Compression::kXz);
  EXPECT_EQ(*ParseCompression("bzip2"), Compression::kBzip2);
  EXPECT_EQ(*ParseCompression("zstd"), Compression::kZstd);
  EXPECT_EQ(*ParseCompression("none"), Compression::kNone);
  EXPECT_EQ(CompressionExtension(Compression::kXz), ".xz");
  EXPECT_EQ(CompressionExtension(Compression::kBzip2), ".bz2");
  EXPECT_EQ(CompressionExtension(Compression::kZstd), ".zst");
  auto br = ParseCompression("br");
  EXPECT_EQ(br.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(br.status().message().find("'br'"), std::string::npos);
}

TEST(Compression, RoundTripsEverySizeAndFormat) {
  for (Compression c : kAll) {
    for (size_t n : {size_t{0}, size_t{1}, size_t{4095}, size_t{200000}}) {
      SCOPED_TRACE(absl::StrCat(ToAbslView(CompressionName(c)), " ", n));
      std::string data = Sample(n);
      auto packed = Compress(c, data);
      ASSERT_TRUE(packed.ok()) << packed.status();
      if (c != Compression::kNone && n == 200000) {
        EXPECT_LT(packed->size(), n / 2);
      }
      auto back = Decompress(c, *packed);
      ASSERT_TRUE(back.ok()) << back.status();
      EXPECT_TRUE(*back == data);
    }
  }
}

TEST(Compression, DecompressesNixsXzNar) {
  auto info = NarInfo::Parse(testing::GoldenFile("b-txt.narinfo"));
  ASSERT_TRUE(info.ok()) << info.status();
  std::string packed = testing::GoldenFile("b-txt.nar.xz");
  EXPECT_EQ(NixHash::Of(HashAlgo::kSha256, packed), *info->file_hash);
  EXPECT_EQ(packed.size(), *info->file_size);
  auto nar = Decompress(Compression::kXz, packed);
  ASSERT_TRUE(nar.ok()) << nar.status();
  EXPECT_EQ(NixHash::Of(HashAlgo::kSha256, *nar), info->nar_hash);
  EXPECT_EQ(nar->size(), info->nar_size);
}

// Hands out `data` a few bytes at a time.
class DripSource : public ByteSource {
 public:
  DripSource(std::string_view data, size_t step) : data_(data), step_(step) {}
  absl::StatusOr<size_t> Read(std::span<char> buf) override {
    size_t n = std::min({buf.size(), data_.size(), step_});
    std::memcpy(buf.data(), data_.data(), n);
    data_.remove_prefix(n);
    return n;
  }

 private:
  std::string_view data_;
  size_t step_;
};

TEST(Compression, StreamsThroughSourcesAndSinksInSmallPieces) {
  std::string data = Sample(300000);
  for (Compression c : kAll) {
    SCOPED_TRACE(CompressionName(c));
    // Compress through a sink fed in odd pieces.
    StringSink packed;
    CodecSink sink(*MakeCompressor(c), packed);
    for (size_t off = 0; off < data.size(); off += 777) {
      ASSERT_TRUE(sink.Write(std::string_view(data).substr(off, 777)).ok());
    }
    ASSERT_TRUE(sink.Close().ok());
    EXPECT_EQ(sink.bytes_out(), packed.str().size());
    // Decompress through a source that drips, read in small buffers.
    DripSource drip(packed.str(), 13);
    CodecSource source(*MakeDecompressor(c), drip);
    std::string out;
    char buf[100];
    for (;;) {
      auto n = source.Read(buf);
      ASSERT_TRUE(n.ok()) << n.status();
      if (*n == 0) break;
      out.append(buf, *n);
    }
    EXPECT_TRUE(out == data);
    EXPECT_EQ(source.bytes_out(), data.size());
  }
}

TEST(Compression, BombsStopAtTheOutputLimit) {
  std::string zeros(16 << 20, '\0');
  for (Compression c : kCompressing) {
    SCOPED_TRACE(CompressionName(c));
    auto packed = Compress(c, zeros);
    ASSERT_TRUE(packed.ok());
    EXPECT_LT(packed->size(), 1u << 20);
    auto r = Decompress(c, *packed, 1 << 20);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted) << r.status();
    EXPECT_NE(r.status().message().find("limit of 1048576 bytes"), std::string::npos);
    // The pull side too, without reading more than a buffer past the limit.
    StringSource in(*packed);
    CodecSource source(*MakeDecompressor(c), in, 1 << 20);
    std::string out;
    absl::Status s = ReadAll(source, &out);
    EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
    EXPECT_LE(out.size(), 1u << 20);
    // Exactly at the limit is fine.
    EXPECT_TRUE(Decompress(c, *packed, zeros.size()).ok());
  }
}

TEST(Compression, CorruptTruncatedAndTrailingInputIsInvalidArgument) {
  std::string data = Sample(100000);
  for (Compression c : kCompressing) {
    SCOPED_TRACE(CompressionName(c));
    std::string packed = *Compress(c, data);
    std::string corrupt = packed;
    corrupt[corrupt.size() / 2] ^= 0x55;
    corrupt[corrupt.size() / 2 + 1] ^= 0x55;
    auto r1 = Decompress(c, corrupt);
    EXPECT_EQ(r1.status().code(), absl::StatusCode::kInvalidArgument) << r1.status();
    for (size_t cut : {size_t{0}, size_t{1}, packed.size() / 2, packed.size() - 1}) {
      auto r2 = Decompress(c, packed.substr(0, cut));
      EXPECT_EQ(r2.status().code(), absl::StatusCode::kInvalidArgument) << cut << r2.status();
      StringSource in(std::string_view(packed).substr(0, cut));
      CodecSource source(*MakeDecompressor(c), in);
      std::string out;
      EXPECT_EQ(ReadAll(source, &out).code(), absl::StatusCode::kInvalidArgument) << cut;
    }
    auto r3 = Decompress(c, packed + "garbage");
    EXPECT_EQ(r3.status().code(), absl::StatusCode::kInvalidArgument) << r3.status();
    const std::string trailing = packed + "x";
    StringSource in(trailing);
    CodecSource source(*MakeDecompressor(c), in);
    std::string out;
    absl::Status s = ReadAll(source, &out);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_NE(s.message().find("after the end"), std::string::npos) << s;
    auto wrong = Decompress(c, data.substr(0, 1000));
    EXPECT_EQ(wrong.status().code(), absl::StatusCode::kInvalidArgument) << wrong.status();
  }
}

TEST(Compression, ZstdAcceptsConcatenatedFrames) {
  std::string a = *Compress(Compression::kZstd, "first ");
  std::string b = *Compress(Compression::kZstd, "second");
  auto r = Decompress(Compression::kZstd, a + b);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, "first second");
}

TEST(Compression, CommandLineToolsReadOurOutput) {
  std::string data = Sample(50000);
  castore::testing::TempDir tmp;
  struct Tool {
    Compression c;
    const char* argv0;
  };
  for (Tool t : {Tool{Compression::kXz, "xz"}, Tool{Compression::kBzip2, "bzip2"},
                 Tool{Compression::kZstd, "zstd"}}) {
    SCOPED_TRACE(t.argv0);
    std::string file = tmp.path() + "/f" + std::string(CompressionExtension(t.c));
    {
      std::ofstream out(file, std::ios::binary);
      out << *Compress(t.c, data);
    }
    auto r = castore::testing::Run({t.argv0, "-d", "-c", file}, tmp.path() + "/run");
    if (r.code == -1 && r.err.starts_with("spawn failed")) GTEST_SKIP() << t.argv0 << " missing";
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_TRUE(r.out == data);
  }
}

}  // namespace
}  // namespace castor::nix
