#include "s3store/layout.h"

#include <zstd.h>

#include <algorithm>
#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "tvix/castore/protos/rpc_blobstore.pb.h"

namespace castor::s3store {

namespace pb = ::tvix::castore::v1;

std::string DigestKey(std::string_view prefix, const B3Digest& digest) {
  std::string hex = digest.ToHex();
  return absl::StrCat(ToAbslView(prefix), hex.substr(0, 4), "/", hex);
}

std::optional<B3Digest> DigestFromKey(std::string_view key) {
  // SHARD/HEX: 4 + 1 + 64 characters, the shard the first four of HEX.
  if (key.size() != 69 || key[4] != '/' || key.substr(0, 4) != key.substr(5, 4)) {
    return std::nullopt;
  }
  std::string_view hex = key.substr(5);
  for (char c : hex) {
    if (!absl::ascii_isdigit(c) && (c < 'a' || c > 'f')) return std::nullopt;
  }
  auto digest = B3Digest::FromBytes(absl::HexStringToBytes(ToAbslView(hex)));
  if (!digest.ok()) return std::nullopt;
  return *digest;
}

namespace {

bool KeptAsIs(char c) { return absl::ascii_isalnum(c) || c == '.' || c == '_' || c == '-'; }

}  // namespace

std::string RootKey(std::string_view name) {
  std::string key = kRootsPrefix;
  for (char c : name) {
    if (KeptAsIs(c)) {
      key.push_back(c);
    } else {
      absl::StrAppend(&key, "%", absl::BytesToHexString(absl::string_view(&c, 1)));
    }
  }
  return key;
}

absl::StatusOr<std::string> RootNameFromKey(std::string_view key) {
  auto bad = [&] {
    return absl::DataLossError(absl::StrCat("object '", ToAbslView(key), "' does not name a root"));
  };
  if (!key.starts_with(kRootsPrefix)) return bad();
  key.remove_prefix(sizeof(kRootsPrefix) - 1);
  std::string name;
  for (size_t i = 0; i < key.size(); ++i) {
    if (key[i] == '%') {
      if (i + 2 >= key.size()) return bad();
      std::string_view hex = key.substr(i + 1, 2);
      if (!absl::ascii_isxdigit(hex[0]) || !absl::ascii_isxdigit(hex[1])) return bad();
      name += absl::HexStringToBytes(ToAbslView(hex));
      i += 2;
    } else if (KeptAsIs(key[i])) {
      name.push_back(key[i]);
    } else {
      return bad();
    }
  }
  if (name.empty()) return bad();
  return name;
}

std::string Compress(std::string_view data, int level) {
  std::string out(ZSTD_compressBound(data.size()), '\0');
  size_t n = ZSTD_compress(out.data(), out.size(), data.data(), data.size(),
                           level == 0 ? ZSTD_CLEVEL_DEFAULT : level);
  // Compressing into a buffer of ZSTD_compressBound cannot fail.
  out.resize(ZSTD_isError(n) ? 0 : n);
  return out;
}

absl::StatusOr<std::string> Decompress(std::string_view compressed, uint64_t max_size,
                                       std::string_view what) {
  std::unique_ptr<ZSTD_DStream, size_t (*)(ZSTD_DStream*)> stream(ZSTD_createDStream(),
                                                                  ZSTD_freeDStream);
  if (stream == nullptr) return absl::ResourceExhaustedError("zstd: out of memory");
  std::string out;
  ZSTD_inBuffer in{compressed.data(), compressed.size(), 0};
  char buf[1 << 16];
  while (true) {
    ZSTD_outBuffer o{buf, sizeof(buf), 0};
    size_t hint = ZSTD_decompressStream(stream.get(), &o, &in);
    if (ZSTD_isError(hint)) {
      return absl::DataLossError(
          absl::StrCat(ToAbslView(what), ": does not decompress: ", ZSTD_getErrorName(hint)));
    }
    if (o.pos > max_size - out.size()) {
      return absl::DataLossError(
          absl::StrCat(ToAbslView(what), ": decompresses to more than ", max_size, " bytes"));
    }
    out.append(buf, o.pos);
    // hint 0: a frame ended and all of it is out.
    if (hint == 0 && in.pos == in.size) return out;
    // Nothing left to give and nothing came out: the decoder wants more.
    if (in.pos == in.size && o.pos == 0) {
      return absl::DataLossError(absl::StrCat(ToAbslView(what), ": truncated zstd frame"));
    }
  }
}

std::string EncodeChunkList(std::span<const castore::ChunkMeta> chunks) {
  pb::StatBlobResponse msg;
  for (const castore::ChunkMeta& c : chunks) {
    auto* meta = msg.add_chunks();
    meta->set_digest(std::string(c.digest.raw()));
    meta->set_size(c.size);
  }
  return msg.SerializeAsString();
}

absl::StatusOr<std::vector<castore::ChunkMeta>> DecodeChunkList(std::string_view object,
                                                                std::string_view what) {
  pb::StatBlobResponse msg;
  if (!msg.ParseFromArray(object.data(), static_cast<int>(object.size()))) {
    return absl::DataLossError(absl::StrCat(ToAbslView(what), ": not a chunk list"));
  }
  std::vector<castore::ChunkMeta> chunks;
  chunks.reserve(msg.chunks_size());
  uint64_t total = 0;
  for (const auto& meta : msg.chunks()) {
    auto digest = B3Digest::FromBytes(meta.digest());
    if (!digest.ok()) {
      return absl::DataLossError(
          absl::StrCat(ToAbslView(what), ": chunk ", chunks.size(), ": bad digest"));
    }
    if (meta.size() == 0 || meta.size() > UINT64_MAX - total) {
      return absl::DataLossError(
          absl::StrCat(ToAbslView(what), ": chunk ", chunks.size(), ": bad size ", meta.size()));
    }
    total += meta.size();
    chunks.push_back({*digest, meta.size()});
  }
  return chunks;
}

absl::Status ForEachNamedObject(
    s3::S3Client& client, std::string_view prefix,
    const std::function<std::optional<std::string>(std::string_view key)>& parse,
    const std::function<absl::Status(const std::string& id, const std::string& key,
                                     std::string_view object)>& fn) {
  std::vector<std::pair<std::string, std::string>> found;  // id, key
  RETURN_IF_ERROR(client.ForEach(prefix, [&](const s3::ObjectEntry& e) -> absl::Status {
    if (std::optional<std::string> id = parse(e.key)) found.emplace_back(*std::move(id), e.key);
    return absl::OkStatus();
  }));
  // Keys need not sort as their ids do (escaped root names).
  std::sort(found.begin(), found.end());
  for (const auto& [id, key] : found) {
    ASSIGN_OR_RETURN(std::optional<s3::GetResult> got, client.Get(key));
    if (!got.has_value()) continue;  // removed meanwhile
    RETURN_IF_ERROR(fn(id, key, got->data));
  }
  return absl::OkStatus();
}

}  // namespace castor::s3store
