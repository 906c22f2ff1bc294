#include "nix/binary_cache_server.h"

#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <optional>
#include <thread>
#include <tuple>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/mutex.h"
#include "base/status.h"
#include "nix/byte_pipe.h"
#include "nix/castore_nar.h"
#include "nix/encoding.h"
#include "nix/hash.h"
#include "nix/nar_import.h"
#include "nix/narinfo.h"
#include "spdlog/spdlog.h"

namespace castor::nix {
namespace {

constexpr char kNarType[] = "application/x-nix-nar";
constexpr char kNarInfoType[] = "text/x-nix-narinfo";
constexpr size_t kMaxNarInfoSize = 1 << 20;
// The Nix base32 alphabet as a regex class.
#define CASTOR_NIX32 "[0-9a-df-np-sv-z]"

int HttpStatus(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kDataLoss:
      return 400;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kAlreadyExists:
      return 409;
    case absl::StatusCode::kResourceExhausted:
      return 413;
    case absl::StatusCode::kUnavailable:
      return 503;
    default:
      return 500;
  }
}

void Reply(httplib::Response& res, int status, absl::string_view body) {
  res.status = status;
  res.set_content(absl::StrCat(body, "\n"), "text/plain");
}

void ReplyError(httplib::Response& res, const absl::Status& s) {
  Reply(res, HttpStatus(s), s.message());
}

// Refuses without reading the request body: the connection cannot be
// reused then, so it is closed after the answer.
void Refuse(httplib::Response& res, int status, absl::string_view why) {
  Reply(res, status, why);
  res.set_header("Connection", "close");
}

std::optional<StorePath::Digest> DigestOfHashPart(std::string_view hash_part) {
  auto raw = NixBase32Decode(hash_part);
  if (!raw.ok() || raw->size() != StorePath::kDigestSize) return std::nullopt;
  StorePath::Digest d;
  std::copy(raw->begin(), raw->end(), d.begin());
  return d;
}

std::optional<Compression> CompressionOfExtension(std::string_view ext) {
  for (Compression c :
       {Compression::kNone, Compression::kXz, Compression::kBzip2, Compression::kZstd}) {
    if (CompressionExtension(c) == ext) return c;
  }
  return std::nullopt;
}

// Bytes [skip, skip + length) of the rendered NAR go to the client; the
// window's last byte is held back until Release (after the render checked
// the whole NAR), so a render that fails never completes the response.
class WindowSink : public ByteSink {
 public:
  // A status with this message ends the render once the window is full.
  static constexpr char kDone[] = "range sent";

  WindowSink(ByteSink& out, uint64_t skip, uint64_t length, bool hold_last)
      : out_(out), skip_(skip), left_(length), hold_last_(hold_last) {}

  absl::Status Write(std::string_view data) override {
    if (skip_ > 0) {
      uint64_t n = std::min<uint64_t>(skip_, data.size());
      skip_ -= n;
      data.remove_prefix(n);
    }
    if (data.empty()) return absl::OkStatus();
    if (left_ == 0) {
      if (hold_last_)
        return absl::DataLossError("the rendered NAR is longer than its path info says");
      return absl::CancelledError(kDone);
    }
    uint64_t n = std::min<uint64_t>(left_, data.size());
    left_ -= n;
    std::string_view send = data.substr(0, n);
    if (hold_last_ && left_ == 0) {
      held_ = send.back();
      send.remove_suffix(1);
    }
    if (!send.empty()) RETURN_IF_ERROR(out_.Write(send));
    if (!hold_last_ && left_ == 0) return absl::CancelledError(kDone);
    return absl::OkStatus();
  }

  // Sends the held byte; DataLoss when the render ended short.
  absl::Status Release() {
    if (left_ != 0)
      return absl::DataLossError("the rendered NAR is shorter than its path info says");
    if (held_.has_value()) return out_.Write(std::string_view(&*held_, 1));
    return absl::OkStatus();
  }

  static bool IsDone(const absl::Status& s) {
    return s.code() == absl::StatusCode::kCancelled && s.message() == kDone;
  }

 private:
  ByteSink& out_;
  uint64_t skip_;
  uint64_t left_;
  const bool hold_last_;
  std::optional<char> held_;
};

// httplib's DataSink as a ByteSink, in pieces of kPiece bytes: a NAR
// renders as many small writes (each file's header, padding), and one
// socket write each would cost a round trip of delayed ACK apiece. What is
// buffered goes out on Flush (never on destruction: a render that fails
// sends nothing more).
class HttpSink : public ByteSink {
 public:
  static constexpr size_t kPiece = 64 << 10;

  explicit HttpSink(httplib::DataSink& sink) : sink_(sink) { buffer_.reserve(kPiece); }
  absl::Status Write(std::string_view data) override {
    if (buffer_.size() + data.size() > kPiece) RETURN_IF_ERROR(Flush());
    if (data.size() >= kPiece) return Send(data);
    buffer_.append(data);
    return absl::OkStatus();
  }
  absl::Status Flush() {
    absl::Status s = Send(buffer_);
    buffer_.clear();
    return s;
  }

 private:
  absl::Status Send(std::string_view data) {
    if (!data.empty() && !sink_.write(data.data(), data.size())) {
      return absl::UnavailableError("the client went away");
    }
    return absl::OkStatus();
  }

  httplib::DataSink& sink_;
  std::string buffer_;
};

// A single "bytes=a-b", "bytes=a-" or "bytes=-n" range of a body of `size`
// bytes: {offset, length}; nullopt when it is absent, has several ranges
// or does not parse (the whole body is sent then); {size, 0} when it is
// unsatisfiable.
std::optional<std::pair<uint64_t, uint64_t>> SingleRange(const httplib::Request& req,
                                                         uint64_t size) {
  if (!req.has_header("Range")) return std::nullopt;
  std::string value = req.get_header_value("Range");
  if (!absl::StartsWith(value, "bytes=") || value.find(',') != std::string::npos) {
    return std::nullopt;
  }
  std::string_view spec = std::string_view(value).substr(6);
  size_t dash = spec.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  std::string_view first = spec.substr(0, dash), last = spec.substr(dash + 1);
  uint64_t a = 0, b = 0;
  if (first.empty()) {  // the last n bytes
    if (!absl::SimpleAtoi(ToAbslView(last), &b) || b == 0) return std::nullopt;
    b = std::min(b, size);
    return std::make_pair(size - b, b);
  }
  if (!absl::SimpleAtoi(ToAbslView(first), &a)) return std::nullopt;
  if (last.empty()) {
    b = size == 0 ? 0 : size - 1;
  } else if (!absl::SimpleAtoi(ToAbslView(last), &b) || b < a) {
    return std::nullopt;
  }
  if (a >= size) return std::make_pair(size, uint64_t{0});
  b = std::min(b, size - 1);
  return std::make_pair(a, b - a + 1);
}

// What an upload left: its NAR in castore, waiting for its narinfo.
struct Upload {
  castore::Node node;
  NarSummary nar;
  NixHash file_hash;
  uint64_t file_size = 0;
  Compression compression = Compression::kNone;
  std::chrono::steady_clock::time_point at;
  // Held until a narinfo binds the upload (BinaryCacheServerOptions::upload_guard).
  std::shared_ptr<void> guard;
};

}  // namespace

class BinaryCacheServer::Impl {
 public:
  Impl(std::shared_ptr<NixStore> store, BinaryCacheServerOptions options)
      : store_(std::move(store)), options_(std::move(options)) {}

  absl::Status Start() {
    Routes();
    const int threads = std::max(1, options_.threads);
    server_.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    const time_t io = std::max<time_t>(1, options_.io_timeout.count());
    server_.set_read_timeout(io, 0);
    server_.set_write_timeout(io, 0);
    // Responses are written in large pieces (HttpSink); small ones (a
    // narinfo, the headers) must not wait for the client's delayed ACK.
    server_.set_tcp_nodelay(true);
    server_.set_keep_alive_timeout(5);
    server_.set_keep_alive_max_count(1000);
    server_.set_payload_max_length(std::numeric_limits<size_t>::max());
    if (options_.port == 0) {
      port_ = server_.bind_to_any_port(options_.host);
    } else {
      port_ = server_.bind_to_port(options_.host, options_.port) ? options_.port : -1;
    }
    if (port_ <= 0) {
      return absl::UnavailableError(
          absl::StrCat("cannot listen on http://", options_.host, ":", options_.port));
    }
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    return absl::OkStatus();
  }

  void Stop() {
    if (!thread_.joinable()) return;
    server_.stop();
    thread_.join();
  }

  int port() const { return port_; }
  std::string url() const {
    std::string host = options_.host.find(':') != std::string::npos
                           ? absl::StrCat("[", options_.host, "]")
                           : options_.host;
    return absl::StrCat("http://", host, ":", port_);
  }

 private:
  void Routes() {
    // Only GET, HEAD and PUT (when uploads are on) get as far as reading a
    // request body.
    server_.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      if (req.method == "GET" || req.method == "HEAD")
        return httplib::Server::HandlerResponse::Unhandled;
      if (req.method == "PUT") {
        if (options_.allow_upload) return httplib::Server::HandlerResponse::Unhandled;
        Refuse(res, 403,
               "uploads are disabled on this cache (castor nix serve --allow-upload enables "
               "them)");
        return httplib::Server::HandlerResponse::Handled;
      }
      Refuse(res, 405, absl::StrCat("method ", req.method, " is not supported"));
      return httplib::Server::HandlerResponse::Handled;
    });
    server_.Get("/nix-cache-info", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(absl::StrCat("StoreDir: ", ToAbslView(kDefaultStoreDir),
                                   "\nWantMassQuery: 1\nPriority: ", options_.priority, "\n"),
                      "text/x-nix-cache-info");
    });
    server_.Get("/(" CASTOR_NIX32 "{32})\\.narinfo",
                [this](const httplib::Request& req, httplib::Response& res) {
                  GetNarInfo(req.matches[1].str(), res);
                });
    server_.Get("/nar/(" CASTOR_NIX32 "{32})-(" CASTOR_NIX32 "{52})\\.nar(|\\.xz|\\.bz2|\\.zst)",
                [this](const httplib::Request& req, httplib::Response& res) {
                  GetNar(req, res, req.matches[1].str(), req.matches[2].str(),
                         req.matches[3].str());
                });
    server_.Get("/(nar/" CASTOR_NIX32 "{52}\\.nar(|\\.xz|\\.bz2|\\.zst))",
                [this](const httplib::Request& req, httplib::Response& res) {
                  GetUpload(req, res, req.matches[1].str());
                });
    server_.Put("/(nar/" CASTOR_NIX32 "{52}\\.nar(|\\.xz|\\.bz2|\\.zst))",
                [this](const httplib::Request& req, httplib::Response& res,
                       const httplib::ContentReader& body) {
                  PutNar(req.matches[1].str(), *CompressionOfExtension(req.matches[2].str()), res,
                         body);
                });
    server_.Put("/(" CASTOR_NIX32 "{32})\\.narinfo",
                [this](const httplib::Request& req, httplib::Response& res,
                       const httplib::ContentReader& body) {
                  PutNarInfo(req.matches[1].str(), res, body);
                });
    server_.Put("/nix-cache-info", [](const httplib::Request&, httplib::Response& res,
                                      const httplib::ContentReader& body) {
      // Nix writes one when it finds none; this cache always has its own.
      size_t total = 0;
      body([&](const char*, size_t n) { return (total += n) <= 4096; });
      res.status = 200;
    });
    server_.Put(".*", [](const httplib::Request& req, httplib::Response& res,
                         const httplib::ContentReader&) {
      Refuse(res, 404, absl::StrCat("cannot upload to ", req.path));
    });
  }

  absl::StatusOr<std::optional<PathInfo>> Lookup(std::string_view hash_part) {
    std::optional<StorePath::Digest> digest = DigestOfHashPart(hash_part);
    if (!digest.has_value()) return std::nullopt;
    return store_->path_infos().Get(*digest);
  }

  static std::string NarUrl(const PathInfo& info, Compression c) {
    return absl::StrCat("nar/", info.store_path().HashPart(), "-",
                        info.nar_sha256().DigestNixBase32(), ".nar",
                        ToAbslView(CompressionExtension(c)));
  }

  void GetNarInfo(const std::string& hash_part, httplib::Response& res) {
    auto info = Lookup(hash_part);
    if (!info.ok()) return ReplyError(res, info.status());
    if (!info->has_value()) {
      return Reply(res, 404, absl::StrCat("no path with hash ", hash_part, " in this cache"));
    }
    NarInfo narinfo = (*info)->ToNarInfo(NarUrl(**info, options_.compression),
                                         std::string(CompressionName(options_.compression)));
    for (const SecretKey& key : options_.sign_keys) narinfo.Sign(key);
    res.set_content(narinfo.Render(), kNarInfoType);
  }

  void GetNar(const httplib::Request& req, httplib::Response& res, const std::string& hash_part,
              const std::string& nar_hash, const std::string& ext) {
    auto info = Lookup(hash_part);
    if (!info.ok()) return ReplyError(res, info.status());
    if (!info->has_value() || (*info)->nar_sha256().DigestNixBase32() != nar_hash) {
      return Reply(res, 404, absl::StrCat("no NAR ", req.path, " in this cache"));
    }
    ServeNar(req, res, (*info)->node(), (*info)->nar_size(), (*info)->nar_sha256(),
             *CompressionOfExtension(ext));
  }

  // An upload's NAR: HEAD says it is there (so Nix does not send it again);
  // GET renders it.
  void GetUpload(const httplib::Request& req, httplib::Response& res, const std::string& url) {
    std::optional<Upload> upload = FindUpload(url);
    if (!upload.has_value()) return Reply(res, 404, absl::StrCat("no NAR ", req.path));
    ServeNar(req, res, upload->node, upload->nar.nar_size, upload->nar.nar_sha256,
             upload->compression);
  }

  void ServeNar(const httplib::Request& req, httplib::Response& res, const castore::Node& node,
                uint64_t nar_size, const NixHash& nar_sha256, Compression c) {
    std::shared_ptr<NixStore> store = store_;
    if (c != Compression::kNone) {
      res.set_chunked_content_provider(
          kNarType, [store, node, nar_size, nar_sha256, c](size_t, httplib::DataSink& sink) {
            HttpSink http(sink);
            auto codec = MakeCompressor(c);
            if (!codec.ok()) return Failed(codec.status());
            CodecSink compressed(*std::move(codec), http);
            WindowSink window(compressed, 0, nar_size, /*hold_last=*/true);
            absl::Status s = Render(*store, node, window, nar_sha256);
            if (s.ok()) s = window.Release();
            if (s.ok()) s = compressed.Close();
            if (s.ok()) s = http.Flush();
            if (!s.ok()) return Failed(s);
            sink.done();
            return true;
          });
      return;
    }
    uint64_t offset = 0, length = nar_size;
    std::optional<std::pair<uint64_t, uint64_t>> range = SingleRange(req, nar_size);
    // httplib would apply the Range header to the body once more; this
    // handler answers it itself (the request object is httplib's own,
    // non-const).
    const_cast<httplib::Request&>(req).ranges.clear();
    if (range.has_value()) {
      if (range->second == 0) {
        res.status = 416;
        res.set_header("Content-Range", absl::StrCat("bytes */", nar_size));
        return;
      }
      std::tie(offset, length) = *range;
      res.status = 206;
      res.set_header("Content-Range",
                     absl::StrCat("bytes ", offset, "-", offset + length - 1, "/", nar_size));
    }
    res.set_header("Accept-Ranges", "bytes");
    const bool whole = offset == 0 && length == nar_size;
    auto rendered = std::make_shared<std::atomic<bool>>(false);
    res.set_content_provider(length, kNarType,
                             [store, node, nar_sha256, offset, length, whole, rendered](
                                 size_t, size_t, httplib::DataSink& sink) {
                               // Called again only when a render sent less than announced.
                               if (rendered->exchange(true)) return false;
                               HttpSink http(sink);
                               WindowSink window(http, offset, length, /*hold_last=*/whole);
                               absl::Status s =
                                   Render(*store, node, window, whole ? &nar_sha256 : nullptr);
                               if (WindowSink::IsDone(s))
                                 s = absl::OkStatus();
                               else if (s.ok())
                                 s = window.Release();
                               if (s.ok()) s = http.Flush();
                               return s.ok() ? true : Failed(s);
                             });
  }

  // Renders `node`; with `expect`, a NAR whose SHA-256 differs is DataLoss.
  static absl::Status Render(NixStore& store, const castore::Node& node, ByteSink& sink,
                             const NixHash* expect) {
    ASSIGN_OR_RETURN(NarSummary summary, RenderNar(store.blobs(), store.directories(), node, sink));
    if (expect != nullptr && summary.nar_sha256 != *expect) {
      return absl::DataLossError(absl::StrCat("the rendered NAR has hash ",
                                              summary.nar_sha256.ToNixBase32(),
                                              ", its path info says ", expect->ToNixBase32()));
    }
    return absl::OkStatus();
  }
  static absl::Status Render(NixStore& store, const castore::Node& node, ByteSink& sink,
                             const NixHash& expect) {
    return Render(store, node, sink, &expect);
  }

  static bool Failed(const absl::Status& s) {
    if (s.code() != absl::StatusCode::kUnavailable) {
      spdlog::warn("NAR render failed, response aborted: {}", std::string(s.message()));
    }
    return false;
  }

  std::optional<Upload> FindUpload(const std::string& url) {
    castor::MutexLock lock(&mu_);
    Expire();
    auto it = uploads_.find(url);
    if (it == uploads_.end()) return std::nullopt;
    return it->second;
  }

  void Expire() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto now = std::chrono::steady_clock::now();
    for (auto it = uploads_.begin(); it != uploads_.end();) {
      it = now - it->second.at > options_.upload_ttl ? uploads_.erase(it) : std::next(it);
    }
  }

  void Keep(const std::string& url, Upload upload) {
    castor::MutexLock lock(&mu_);
    Expire();
    while (!uploads_.empty() && uploads_.size() >= options_.max_pending_uploads) {
      auto oldest =
          std::min_element(uploads_.begin(), uploads_.end(),
                           [](const auto& a, const auto& b) { return a.second.at < b.second.at; });
      uploads_.erase(oldest);
    }
    uploads_.insert_or_assign(url, std::move(upload));
  }

  void PutNar(const std::string& url, Compression c, httplib::Response& res,
              const httplib::ContentReader& body) {
    std::shared_ptr<void> guard;
    if (options_.upload_guard) {
      auto g = options_.upload_guard();
      if (!g.ok()) return Refuse(res, HttpStatus(g.status()), g.status().message());
      guard = *std::move(g);
    }
    BytePipe pipe;
    absl::StatusOr<Upload> result;
    std::thread parser([&] {
      result = [&]() -> absl::StatusOr<Upload> {
        HashingSource file(HashAlgo::kSha256, pipe);
        ASSIGN_OR_RETURN(std::unique_ptr<Codec> codec, MakeDecompressor(c));
        CodecSource nar(std::move(codec), file, options_.max_upload_nar_size);
        ASSIGN_OR_RETURN(NarImport imported,
                         ImportNar(store_->blobs(), store_->directories(), nar));
        return Upload{imported.node,
                      imported.nar,
                      file.Finish(),
                      file.bytes(),
                      c,
                      std::chrono::steady_clock::now(),
                      guard};
      }();
      if (!result.ok()) pipe.Abandon(result.status());
    });
    bool complete = body(
        [&](const char* data, size_t n) { return pipe.Write(std::string_view(data, n)).ok(); });
    if (complete) {
      pipe.Close();
    } else {
      pipe.Fail(absl::UnavailableError("the upload's body ended early"));
    }
    parser.join();
    if (!result.ok()) {
      spdlog::warn("upload {} refused: {}", url, std::string(result.status().message()));
      Refuse(res, HttpStatus(result.status()),
             absl::StrCat("NAR upload ", url, ": ", result.status().message()));
      return;
    }
    spdlog::info("upload {}: NAR of {} bytes, {}", url, result->nar.nar_size,
                 result->nar.nar_sha256.ToNixBase32());
    Keep(url, *std::move(result));
    res.status = 200;
  }

  void PutNarInfo(const std::string& hash_part, httplib::Response& res,
                  const httplib::ContentReader& body) {
    std::string text;
    bool complete = body([&](const char* data, size_t n) {
      if (text.size() + n > kMaxNarInfoSize) return false;
      text.append(data, n);
      return true;
    });
    if (!complete) {
      return Refuse(res, text.size() + 1 > kMaxNarInfoSize ? 413 : 400,
                    absl::StrCat("narinfo upload for ", hash_part, ": body too long or cut off"));
    }
    absl::Status s = BindNarInfo(hash_part, text);
    if (!s.ok()) {
      spdlog::warn("narinfo upload {} refused: {}", hash_part, std::string(s.message()));
      return ReplyError(res, s);
    }
    res.status = 200;
  }

  absl::Status BindNarInfo(const std::string& hash_part, std::string_view text) {
    auto parsed = NarInfo::Parse(text);
    if (!parsed.ok()) return Annotate(parsed.status(), "uploaded narinfo");
    const NarInfo& narinfo = *parsed;
    const std::string what = absl::StrCat("narinfo of ", narinfo.store_path.ToAbsolutePath());
    if (narinfo.store_path.HashPart() != hash_part) {
      return absl::InvalidArgumentError(absl::StrCat(what, " uploaded as ", hash_part, ".narinfo"));
    }
    std::optional<Upload> upload = FindUpload(narinfo.url);
    if (!upload.has_value()) {
      return absl::FailedPreconditionError(absl::StrCat(
          what, ": its NAR ", narinfo.url, " was not uploaded (or expired) before it"));
    }
    if (narinfo.compression != CompressionName(upload->compression)) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": Compression is ", narinfo.compression, ", the uploaded NAR is ",
                       ToAbslView(CompressionName(upload->compression))));
    }
    if (narinfo.file_hash.has_value() && *narinfo.file_hash != upload->file_hash) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": FileHash is ", narinfo.file_hash->ToNixBase32(),
                       ", the uploaded file has ", upload->file_hash.ToNixBase32()));
    }
    if (narinfo.file_size.has_value() && *narinfo.file_size != upload->file_size) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": FileSize is ", *narinfo.file_size,
                                                     ", the uploaded file has ", upload->file_size,
                                                     " bytes"));
    }
    if (narinfo.nar_hash != upload->nar.nar_sha256 || narinfo.nar_size != upload->nar.nar_size) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, ": NarHash ", narinfo.nar_hash.ToNixBase32(), " and NarSize ", narinfo.nar_size,
          " do not match the uploaded NAR (", upload->nar.nar_sha256.ToNixBase32(), ", ",
          upload->nar.nar_size, " bytes)"));
    }
    ASSIGN_OR_RETURN(PathInfo info, PathInfo::FromNarInfo(narinfo, upload->node));
    RETURN_IF_ERROR(store_->Add(info).status());
    {
      // Bound: its blobs are referenced now. The upload stays known (HEAD
      // answers 200) until it expires, for another path with the same NAR.
      castor::MutexLock lock(&mu_);
      auto it = uploads_.find(narinfo.url);
      if (it != uploads_.end()) it->second.guard.reset();
    }
    spdlog::info("added {}", info.store_path().ToAbsolutePath());
    return absl::OkStatus();
  }

  const std::shared_ptr<NixStore> store_;
  const BinaryCacheServerOptions options_;
  httplib::Server server_;
  int port_ = -1;
  std::thread thread_;
  castor::Mutex mu_;
  std::map<std::string, Upload> uploads_ ABSL_GUARDED_BY(mu_);
};

BinaryCacheServer::BinaryCacheServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

BinaryCacheServer::~BinaryCacheServer() { Stop(); }

absl::StatusOr<std::unique_ptr<BinaryCacheServer>> BinaryCacheServer::Start(
    std::shared_ptr<NixStore> store, BinaryCacheServerOptions options) {
  auto impl = std::make_unique<Impl>(std::move(store), std::move(options));
  RETURN_IF_ERROR(impl->Start());
  return std::unique_ptr<BinaryCacheServer>(new BinaryCacheServer(std::move(impl)));
}

void BinaryCacheServer::Stop() { impl_->Stop(); }
int BinaryCacheServer::port() const { return impl_->port(); }
std::string BinaryCacheServer::url() const { return impl_->url(); }

}  // namespace castor::nix
