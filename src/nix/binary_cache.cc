#include "nix/binary_cache.h"

#include <curl/curl.h>

#include <cstring>
#include <map>
#include <mutex>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/status.h"
#include "nix/compression.h"
#include "nix/encoding.h"
#include "nix/hash.h"
#include "nix/nar_import.h"
#include "nix/narinfo.h"

namespace castor::nix {
namespace {

// A narinfo's URL is untrusted: it must stay inside the cache.
absl::Status CheckRelativePath(std::string_view path) {
  bool ok = !path.empty() && path.front() != '/' && path.find("://") == std::string_view::npos;
  for (absl::string_view part : absl::StrSplit(ToAbslView(path), '/')) {
    if (part.empty() || part == "." || part == "..") ok = false;
  }
  for (char c : path) {
    if (static_cast<unsigned char>(c) <= ' ' || c == '?' || c == '#' || c == '\\' || c == 0x7f) {
      ok = false;
    }
  }
  if (!ok) {
    return absl::InvalidArgumentError(
        absl::StrCat("cache file ", QuoteText(path), " is not a plain path inside the cache"));
  }
  return absl::OkStatus();
}

class FileCache : public BinaryCache {
 public:
  explicit FileCache(std::string dir) : dir_(std::move(dir)) {}
  absl::StatusOr<std::unique_ptr<ByteSource>> OpenFile(std::string_view path) override {
    RETURN_IF_ERROR(CheckRelativePath(path));
    auto source = FdSource::Open(absl::StrCat(dir_, "/", ToAbslView(path)));
    if (source.status().code() == absl::StatusCode::kNotFound) {
      return absl::NotFoundError(absl::StrCat(UrlOf(path), " does not exist"));
    }
    if (!source.ok()) return source.status();
    return std::unique_ptr<ByteSource>(*std::move(source));
  }
  std::string UrlOf(std::string_view path) const override {
    return absl::StrCat("file://", dir_, "/", ToAbslView(path));
  }

 private:
  const std::string dir_;
};

void InitCurl() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// One HTTP GET as a pull stream: the transfer runs inside Read (curl's
// multi interface), and pauses when more than kBuffer bytes wait, so memory
// stays bounded however fast the server sends.
class CurlSource : public ByteSource {
 public:
  static constexpr size_t kBuffer = 1 << 20;

  static absl::StatusOr<std::unique_ptr<CurlSource>> Open(std::string url) {
    InitCurl();
    std::unique_ptr<CurlSource> s(new CurlSource(std::move(url)));
    RETURN_IF_ERROR(s->Start());
    // Up to the first bytes (or the end): a missing file is NotFound here.
    RETURN_IF_ERROR(s->Pump());
    return s;
  }

  ~CurlSource() override {
    if (multi_ != nullptr && easy_ != nullptr) curl_multi_remove_handle(multi_, easy_);
    if (easy_ != nullptr) curl_easy_cleanup(easy_);
    if (multi_ != nullptr) curl_multi_cleanup(multi_);
  }

  absl::StatusOr<size_t> Read(std::span<char> buf) override {
    RETURN_IF_ERROR(Pump());
    size_t n = std::min(buf.size(), buffer_.size() - pos_);
    std::memcpy(buf.data(), buffer_.data() + pos_, n);
    pos_ += n;
    return n;
  }

 private:
  explicit CurlSource(std::string url) : url_(std::move(url)) {}

  absl::Status Start() {
    multi_ = curl_multi_init();
    easy_ = curl_easy_init();
    if (multi_ == nullptr || easy_ == nullptr) {
      return absl::ResourceExhaustedError("curl initialisation failed");
    }
    curl_easy_setopt(easy_, CURLOPT_URL, url_.c_str());
    curl_easy_setopt(easy_, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(easy_, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(easy_, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(easy_, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(easy_, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy_, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(easy_, CURLOPT_CONNECTTIMEOUT, 30L);
    // A transfer that moves less than a byte a second for a minute fails.
    curl_easy_setopt(easy_, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(easy_, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(easy_, CURLOPT_USERAGENT, "castor");
    curl_easy_setopt(easy_, CURLOPT_ERRORBUFFER, error_);
    curl_easy_setopt(easy_, CURLOPT_WRITEFUNCTION, &CurlSource::OnData);
    curl_easy_setopt(easy_, CURLOPT_WRITEDATA, this);
    if (curl_multi_add_handle(multi_, easy_) != CURLM_OK) {
      return absl::ResourceExhaustedError("curl_multi_add_handle failed");
    }
    return absl::OkStatus();
  }

  static size_t OnData(char* data, size_t size, size_t nmemb, void* self_ptr) {
    auto* self = static_cast<CurlSource*>(self_ptr);
    size_t n = size * nmemb;
    if (self->buffer_.size() - self->pos_ >= kBuffer) {
      self->paused_ = true;
      return CURL_WRITEFUNC_PAUSE;
    }
    self->buffer_.append(data, n);
    return n;
  }

  // Runs the transfer until bytes wait in the buffer or it ended.
  absl::Status Pump() {
    while (pos_ == buffer_.size()) {
      buffer_.clear();
      pos_ = 0;
      if (done_) return result_;
      if (paused_) {
        paused_ = false;
        curl_easy_pause(easy_, CURLPAUSE_CONT);  // may deliver data at once
        if (!buffer_.empty()) break;
      }
      int running = 0;
      if (curl_multi_perform(multi_, &running) != CURLM_OK) {
        return Finish(
            absl::UnavailableError(absl::StrCat("GET ", url_, ": curl_multi_perform failed")));
      }
      int left = 0;
      while (CURLMsg* msg = curl_multi_info_read(multi_, &left)) {
        if (msg->msg == CURLMSG_DONE) (void)Finish(Outcome(msg->data.result));
      }
      if (!done_ && buffer_.empty()) curl_multi_poll(multi_, nullptr, 0, 1000, nullptr);
    }
    return absl::OkStatus();
  }

  absl::Status Finish(absl::Status s) {
    done_ = true;
    result_ = std::move(s);
    return result_;
  }

  absl::Status Outcome(CURLcode code) {
    if (code == CURLE_OK) return absl::OkStatus();
    long status = 0;
    curl_easy_getinfo(easy_, CURLINFO_RESPONSE_CODE, &status);
    if (code == CURLE_HTTP_RETURNED_ERROR && (status == 404 || status == 410)) {
      return absl::NotFoundError(absl::StrCat(url_, " does not exist (HTTP ", status, ")"));
    }
    if (code == CURLE_HTTP_RETURNED_ERROR && status == 403) {
      return absl::PermissionDeniedError(absl::StrCat("GET ", url_, ": HTTP 403"));
    }
    return absl::UnavailableError(
        absl::StrCat("GET ", url_, ": ", error_[0] != '\0' ? error_ : curl_easy_strerror(code)));
  }

  const std::string url_;
  CURLM* multi_ = nullptr;
  CURL* easy_ = nullptr;
  char error_[CURL_ERROR_SIZE] = {};
  std::string buffer_;
  size_t pos_ = 0;
  bool paused_ = false;
  bool done_ = false;
  absl::Status result_;
};

class HttpCache : public BinaryCache {
 public:
  explicit HttpCache(std::string base) : base_(std::move(base)) {}
  absl::StatusOr<std::unique_ptr<ByteSource>> OpenFile(std::string_view path) override {
    RETURN_IF_ERROR(CheckRelativePath(path));
    ASSIGN_OR_RETURN(std::unique_ptr<CurlSource> s, CurlSource::Open(UrlOf(path)));
    return std::unique_ptr<ByteSource>(std::move(s));
  }
  std::string UrlOf(std::string_view path) const override {
    return absl::StrCat(base_, "/", ToAbslView(path));
  }

 private:
  const std::string base_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<BinaryCache>> BinaryCache::Open(std::string_view url) {
  std::string u(url);
  while (u.size() > 1 && u.back() == '/') u.pop_back();
  if (absl::StartsWith(u, "file://")) {
    std::string dir = u.substr(7);
    if (dir.empty() || dir[0] != '/') {
      return absl::InvalidArgumentError(
          absl::StrCat("cache URL '", ToAbslView(url), "': expected file:///absolute/path"));
    }
    return std::make_unique<FileCache>(dir);
  }
  if (absl::StartsWith(u, "http://") || absl::StartsWith(u, "https://")) {
    return std::make_unique<HttpCache>(u);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("cache URL '", ToAbslView(url),
                   "': expected file:///path, http://host/... or https://host/..."));
}

absl::StatusOr<std::optional<std::string>> BinaryCache::ReadFile(std::string_view path,
                                                                 uint64_t limit) {
  auto source = OpenFile(path);
  if (source.status().code() == absl::StatusCode::kNotFound) return std::nullopt;
  if (!source.ok()) return source.status();
  std::string out;
  RETURN_IF_ERROR(ReadAll(**source, &out, limit, UrlOf(path)));
  return out;
}

namespace {

constexpr uint64_t kMaxNarInfoSize = 1 << 20;

class Substituter {
 public:
  Substituter(BinaryCache& cache, const NixStore& store, const SubstituteOptions& options)
      : cache_(cache), store_(store), options_(options) {}

  absl::StatusOr<SubstituteStats> Run(const std::vector<StorePath>& paths) {
    RETURN_IF_ERROR(CheckCacheInfo());
    std::vector<StorePath> order;
    for (const StorePath& p : paths) RETURN_IF_ERROR(Collect(p, order));
    for (const StorePath& p : order) RETURN_IF_ERROR(Fetch(infos_.at(p)));
    return stats_;
  }

 private:
  absl::Status CheckCacheInfo() {
    ASSIGN_OR_RETURN(std::optional<std::string> text, cache_.ReadFile("nix-cache-info", 64 << 10));
    if (!text.has_value()) return absl::OkStatus();
    for (absl::string_view line : absl::StrSplit(*text, '\n')) {
      if (absl::StartsWith(line, "StoreDir: ") && line.substr(10) != ToAbslView(kDefaultStoreDir)) {
        return absl::FailedPreconditionError(absl::StrCat(cache_.UrlOf("nix-cache-info"),
                                                          " is a cache for store ", line.substr(10),
                                                          ", not ", ToAbslView(kDefaultStoreDir)));
      }
    }
    return absl::OkStatus();
  }

  // Adds `root` and what it references (unless stored already) to `order`,
  // each after its references.
  absl::Status Collect(const StorePath& root, std::vector<StorePath>& order) {
    struct Frame {
      StorePath path;
      size_t next = 0;
    };
    std::vector<Frame> stack;
    auto enter = [&](const StorePath& p) -> absl::Status {
      if (!seen_.insert(p).second) return absl::OkStatus();
      ASSIGN_OR_RETURN(std::optional<PathInfo> have, store_.Get(p));
      if (have.has_value()) {
        ++stats_.paths_present;
        return absl::OkStatus();
      }
      ASSIGN_OR_RETURN(NarInfo narinfo, ReadNarInfo(p));
      infos_.emplace(p, std::move(narinfo));
      stack.push_back(Frame{p});
      return absl::OkStatus();
    };
    RETURN_IF_ERROR(enter(root));
    while (!stack.empty()) {
      Frame& top = stack.back();
      const std::vector<StorePath>& refs = infos_.at(top.path).references;
      if (top.next == refs.size()) {
        order.push_back(top.path);
        stack.pop_back();
        continue;
      }
      StorePath ref = refs[top.next++];  // `top` may move in enter
      RETURN_IF_ERROR(enter(ref));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<NarInfo> ReadNarInfo(const StorePath& p) {
    const std::string file = absl::StrCat(p.HashPart(), ".narinfo");
    ASSIGN_OR_RETURN(std::optional<std::string> text, cache_.ReadFile(file, kMaxNarInfoSize));
    if (!text.has_value()) {
      return absl::NotFoundError(
          absl::StrCat(p.ToAbsolutePath(), " is not in the cache (", cache_.UrlOf(file), ")"));
    }
    auto narinfo = NarInfo::Parse(*text);
    if (!narinfo.ok()) return Annotate(narinfo.status(), cache_.UrlOf(file));
    if (narinfo->store_path != p) {
      return absl::DataLossError(absl::StrCat(cache_.UrlOf(file), " is the narinfo of ",
                                              narinfo->store_path.ToAbsolutePath(), ", not of ",
                                              p.ToAbsolutePath()));
    }
    if (options_.check_signatures && narinfo->CountValidSignatures(options_.trusted_keys) == 0) {
      return absl::PermissionDeniedError(absl::StrCat(
          p.ToAbsolutePath(), " from ", cache_.UrlOf(file),
          " lacks a valid signature by a trusted key (--trusted-public-key; --no-check-sigs "
          "skips the check)"));
    }
    return *std::move(narinfo);
  }

  absl::Status Fetch(const NarInfo& narinfo) {
    const std::string what =
        absl::StrCat(narinfo.store_path.ToAbsolutePath(), " (", cache_.UrlOf(narinfo.url), ")");
    ASSIGN_OR_RETURN(Compression c, ParseCompression(narinfo.compression));
    ASSIGN_OR_RETURN(std::unique_ptr<ByteSource> file, cache_.OpenFile(narinfo.url));
    HashingSource file_hash(HashAlgo::kSha256, *file);
    ASSIGN_OR_RETURN(std::unique_ptr<Codec> codec, MakeDecompressor(c));
    CodecSource nar(std::move(codec), file_hash, narinfo.nar_size);
    auto imported = ImportNar(store_.blobs(), store_.directories(), nar);
    if (imported.status().code() == absl::StatusCode::kResourceExhausted) {
      return absl::DataLossError(
          absl::StrCat(what, ": the NAR is longer than its NarSize of ", narinfo.nar_size));
    }
    if (!imported.ok()) return Annotate(imported.status(), what);
    if (imported->nar.nar_size != narinfo.nar_size ||
        imported->nar.nar_sha256 != narinfo.nar_hash) {
      return absl::DataLossError(
          absl::StrCat(what, ": the NAR has hash ", imported->nar.nar_sha256.ToNixBase32(), " and ",
                       imported->nar.nar_size, " bytes; the narinfo says ",
                       narinfo.nar_hash.ToNixBase32(), " and ", narinfo.nar_size));
    }
    NixHash got_file_hash = file_hash.Finish();
    if (narinfo.file_hash.has_value() && *narinfo.file_hash != got_file_hash) {
      return absl::DataLossError(absl::StrCat(what, ": the file has hash ",
                                              got_file_hash.ToNixBase32(), ", its FileHash is ",
                                              narinfo.file_hash->ToNixBase32()));
    }
    if (narinfo.file_size.has_value() && *narinfo.file_size != file_hash.bytes()) {
      return absl::DataLossError(absl::StrCat(what, ": the file has ", file_hash.bytes(),
                                              " bytes, its FileSize is ", *narinfo.file_size));
    }
    ASSIGN_OR_RETURN(PathInfo info, PathInfo::FromNarInfo(narinfo, imported->node));
    ASSIGN_OR_RETURN(PathInfo added, store_.Add(info));
    ++stats_.paths_added;
    stats_.nar_bytes += imported->nar.nar_size;
    stats_.file_bytes += file_hash.bytes();
    if (options_.added) options_.added(added);
    return absl::OkStatus();
  }

  BinaryCache& cache_;
  const NixStore& store_;
  const SubstituteOptions& options_;
  std::set<StorePath> seen_;
  std::map<StorePath, NarInfo> infos_;
  SubstituteStats stats_;
};

}  // namespace

absl::StatusOr<SubstituteStats> Substitute(BinaryCache& cache, const NixStore& store,
                                           const std::vector<StorePath>& paths,
                                           const SubstituteOptions& options) {
  Substituter s(cache, store, options);
  return s.Run(paths);
}

}  // namespace castor::nix
