#include "s3/s3_client.h"

#include <curl/curl.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <random>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/status.h"
#include "s3/sigv4.h"
#include "s3/xml.h"

namespace castor::s3 {
namespace {

constexpr uint64_t kMinPartSize = uint64_t{5} << 20;
constexpr int kMaxParts = 10000;

std::string Unquote(std::string_view etag) {
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') {
    etag = etag.substr(1, etag.size() - 2);
  }
  return std::string(etag);
}

// Last-Modified (RFC 7231: "Sun, 06 Nov 1994 08:49:37 GMT") and
// ListObjectsV2's LastModified (ISO 8601: "2026-12-04T18:59:35.771Z").
absl::Time ParseHttpDate(std::string_view text) {
  absl::Time t;
  std::string err;
  if (absl::ParseTime("%a, %d %b %Y %H:%M:%S GMT", ToAbslView(text), &t, &err)) return t;
  return absl::InfinitePast();
}

absl::Time ParseIsoTime(std::string_view text) {
  absl::Time t;
  std::string err;
  if (absl::ParseTime("%Y-%m-%dT%H:%M:%E*SZ", ToAbslView(text), &t, &err)) return t;
  return absl::InfinitePast();
}

constexpr char kMetaPrefix[] = "x-amz-meta-";

bool RetryableCurl(CURLcode code) {
  switch (code) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return true;
    default:
      return false;
  }
}

struct ServerError {
  std::string code;
  std::string message;
};

ServerError ParseError(std::string_view body) {
  ServerError e;
  absl::StatusOr<XmlElement> xml = ParseXml(body);
  if (xml.ok() && xml->name == "Error") {
    e.code = xml->ChildText("Code");
    e.message = xml->ChildText("Message");
  }
  return e;
}

// S3's throttling and transient answers that come with a 4xx status.
bool RetryableHttp(long status, const ServerError& e) {
  if (status >= 500 || status == 429) return true;
  return (status == 400 && e.code == "RequestTimeout") ||
         (status == 409 && e.code == "ConditionalRequestConflict");
}

absl::Duration Backoff(const S3ClientOptions& o, int retry) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  absl::Duration ceiling = o.backoff_base;
  for (int i = 0; i < retry && ceiling < o.backoff_cap; ++i) ceiling *= 2;
  ceiling = std::min(ceiling, o.backoff_cap);
  const int64_t us = absl::ToInt64Microseconds(ceiling);
  if (us <= 0) return absl::ZeroDuration();
  return absl::Microseconds(std::uniform_int_distribution<int64_t>(0, us)(rng));
}

void InitCurlOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// Per-attempt transfer state for curl's callbacks.
struct Transfer {
  std::string_view upload;
  size_t upload_pos = 0;
  std::string* body = nullptr;
  std::vector<std::pair<std::string, std::string>>* headers = nullptr;
};

size_t OnWrite(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  t->body->append(data, size * count);
  return size * count;
}

size_t OnRead(char* out, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t n = std::min(size * count, t->upload.size() - t->upload_pos);
  std::memcpy(out, t->upload.data() + t->upload_pos, n);
  t->upload_pos += n;
  return n;
}

int OnSeek(void* user, curl_off_t offset, int origin) {
  auto* t = static_cast<Transfer*>(user);
  if (origin != SEEK_SET || offset < 0 || static_cast<size_t>(offset) > t->upload.size()) {
    return CURL_SEEKFUNC_CANTSEEK;
  }
  t->upload_pos = static_cast<size_t>(offset);
  return CURL_SEEKFUNC_OK;
}

size_t OnHeader(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string_view line(data, size * count);
  if (line.starts_with("HTTP/")) {
    t->headers->clear();  // a new response (after 100 Continue or a redirect)
  } else if (size_t colon = line.find(':'); colon != std::string_view::npos) {
    t->headers->emplace_back(
        absl::AsciiStrToLower(ToAbslView(line.substr(0, colon))),
        std::string(absl::StripAsciiWhitespace(ToAbslView(line.substr(colon + 1)))));
  }
  return size * count;
}

}  // namespace

struct S3Client::Request {
  std::string method;
  std::string full_key;  // "" for the bucket itself
  std::vector<std::pair<std::string, std::string>> query;
  // Signed headers beyond host and the x-amz-* ones the signer adds.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string_view body;
  std::string what;  // "GET key", for messages
};

struct S3Client::Response {
  long status = 0;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // lower-case names
  // An earlier attempt failed after the request may have reached the server.
  bool ambiguous = false;

  std::string Header(std::string_view name) const {
    for (const auto& [n, v] : headers) {
      if (n == name) return v;
    }
    return "";
  }

  Metadata UserMetadata() const {
    Metadata out;
    for (const auto& [n, v] : headers) {
      if (std::string_view(n).starts_with(kMetaPrefix)) {
        out.emplace_back(n.substr(std::strlen(kMetaPrefix)), v);
      }
    }
    return out;
  }
};

std::optional<std::string> MetadataValue(const Metadata& metadata, std::string_view name) {
  for (const auto& [n, v] : metadata) {
    if (n == name) return v;
  }
  return std::nullopt;
}

// Easy handles, each keeping its connection alive between requests; the most
// recently used is handed out first, so its connection is the warm one.
class S3Client::HandlePool {
 public:
  explicit HandlePool(int max) : max_(max) {}
  ~HandlePool() {
    for (CURL* h : idle_) curl_easy_cleanup(h);
  }

  // Blocks until a handle is free; nullptr when curl cannot make one.
  CURL* Acquire() {
    MutexLock lock(&mu_);
    mu_.Await([this]()
                  ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !idle_.empty() || created_ < max_; });
    if (!idle_.empty()) {
      CURL* h = idle_.back();
      idle_.pop_back();
      return h;
    }
    CURL* h = curl_easy_init();
    if (h != nullptr) ++created_;
    return h;
  }

  void Release(CURL* h) {
    MutexLock lock(&mu_);
    idle_.push_back(h);
  }

 private:
  Mutex mu_;
  const int max_;
  int created_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<CURL*> idle_ ABSL_GUARDED_BY(mu_);
};

S3Client::S3Client(S3Address address, Credentials credentials, S3ClientOptions options)
    : address_(std::move(address)),
      credentials_(std::move(credentials)),
      options_(options),
      display_(address_.Display()),
      pool_(std::make_unique<HandlePool>(options.max_connections)) {}

S3Client::~S3Client() = default;

absl::StatusOr<std::unique_ptr<S3Client>> S3Client::Create(S3Address address,
                                                           Credentials credentials,
                                                           S3ClientOptions options) {
  auto bad = [&](std::string_view what) {
    return absl::InvalidArgumentError(
        absl::StrCat("S3 client for ", address.Display(), ": ", ToAbslView(what)));
  };
  if (options.max_connections < 1) return bad("max_connections must be at least 1");
  if (options.max_attempts < 1) return bad("max_attempts must be at least 1");
  if (options.multipart_concurrency < 1) return bad("multipart_concurrency must be at least 1");
  if (options.part_size < kMinPartSize) return bad("part_size must be at least 5 MiB");
  if (options.multipart_threshold < options.part_size) {
    return bad("multipart_threshold must be at least part_size");
  }
  if (options.connect_timeout <= absl::ZeroDuration() || options.idle_timeout < absl::Seconds(1)) {
    return bad("connect_timeout must be positive and idle_timeout at least 1 s");
  }
  if (credentials.access_key_id.empty() || credentials.secret_access_key.empty()) {
    return bad("credentials lack an access key id or secret");
  }
  InitCurlOnce();
  return std::unique_ptr<S3Client>(
      new S3Client(std::move(address), std::move(credentials), options));
}

absl::StatusOr<std::unique_ptr<S3Client>> S3Client::Open(std::string_view address,
                                                         S3ClientOptions options) {
  ASSIGN_OR_RETURN(S3Address parsed, S3Address::Parse(address));
  ASSIGN_OR_RETURN(Credentials credentials, LoadCredentials(ProcessEnvironment()));
  return Create(std::move(parsed), std::move(credentials), options);
}

std::string S3Client::Context(std::string_view what) const {
  return absl::StrCat(display_, ": ", ToAbslView(what));
}

S3ClientStats S3Client::stats() const {
  return {
      .requests = requests_.load(), .retries = retries_.load(), .connections = connections_.load()};
}

absl::StatusOr<S3Client::Response> S3Client::Attempt(const Request& request,
                                                     const std::string& payload_hash,
                                                     TransportFailure* failure) {
  CURL* h = pool_->Acquire();
  if (h == nullptr) return absl::ResourceExhaustedError(Context("curl_easy_init failed"));
  // Back to the pool with default options (no pointers into this frame),
  // its connection still open.
  struct Lease {
    HandlePool* pool;
    CURL* h;
    ~Lease() {
      curl_easy_reset(h);
      pool->Release(h);
    }
  } lease{pool_.get(), h};

  SigV4Request sig;
  sig.method = request.method;
  sig.canonical_uri = address_.Path(request.full_key);
  sig.query = request.query;
  sig.payload_hash = payload_hash;
  sig.headers.emplace_back("host", address_.Host());
  for (const auto& header : request.headers) sig.headers.push_back(header);
  const std::string authorization =
      SignRequest(sig,
                  SigningIdentity{.access_key_id = credentials_.access_key_id,
                                  .secret_access_key = credentials_.secret_access_key,
                                  .session_token = credentials_.session_token,
                                  .region = address_.region},
                  absl::Now());

  struct curl_slist* list = nullptr;
  for (const auto& [name, value] : sig.headers) {
    list = curl_slist_append(list, absl::StrCat(name, ": ", value).c_str());
  }
  list = curl_slist_append(list, absl::StrCat("authorization: ", authorization).c_str());
  // No "Expect: 100-continue" round trip before bodies, no default POST type.
  list = curl_slist_append(list, "Expect:");
  list = curl_slist_append(list, "Content-Type:");
  struct ListGuard {
    curl_slist* l;
    ~ListGuard() { curl_slist_free_all(l); }
  } list_guard{list};

  std::string url = address_.BaseUrl() + sig.canonical_uri;
  if (!request.query.empty()) absl::StrAppend(&url, "?", CanonicalQueryString(request.query));

  Response response;
  Transfer transfer{.upload = request.body, .body = &response.body, .headers = &response.headers};
  char errbuf[CURL_ERROR_SIZE];
  errbuf[0] = '\0';
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);  // keys may hold "/../": send them as signed
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(absl::ToInt64Milliseconds(options_.connect_timeout)));
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME,
                   static_cast<long>(absl::ToInt64Seconds(options_.idle_timeout)));
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, OnWrite);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &transfer);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &transfer);
  if (request.method == "HEAD") {
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
  } else if (request.method == "PUT") {
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, OnRead);
    curl_easy_setopt(h, CURLOPT_READDATA, &transfer);
    curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, OnSeek);
    curl_easy_setopt(h, CURLOPT_SEEKDATA, &transfer);
    curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
  } else if (request.method == "POST") {
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
    // Never NULL: that would make curl read the body from stdin.
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, request.body.empty() ? "" : request.body.data());
  } else if (request.method != "GET") {
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }

  ++requests_;
  const CURLcode code = curl_easy_perform(h);
  long connects = 0;
  if (curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &connects) == CURLE_OK && connects > 0) {
    connections_ += static_cast<uint64_t>(connects);
  }
  if (code != CURLE_OK) {
    long sent = 0;
    curl_easy_getinfo(h, CURLINFO_REQUEST_SIZE, &sent);
    failure->message = errbuf[0] != '\0' ? errbuf : curl_easy_strerror(code);
    failure->sent = sent > 0;
    failure->timeout = code == CURLE_OPERATION_TIMEDOUT;
    failure->retryable = RetryableCurl(code);
    return absl::UnavailableError(failure->message);
  }
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &response.status);
  return response;
}

absl::StatusOr<S3Client::Response> S3Client::Execute(const Request& request) {
  const std::string payload_hash =
      request.method == "PUT" || request.method == "POST"
          ? (options_.unsigned_payload ? std::string(kUnsignedPayload) : Sha256Hex(request.body))
          : Sha256Hex("");
  bool ambiguous = false;
  const absl::Time give_up = absl::Now() + options_.retry_budget;
  for (int attempt = 1;; ++attempt) {
    if (attempt > 1) {
      ++retries_;
      absl::SleepFor(Backoff(options_, attempt - 2));
    }
    // Past the budget this attempt is the last; the backoff of another one
    // would end past it too.
    const bool last =
        attempt >= options_.max_attempts ||
        absl::Now() + options_.backoff_base * (1 << std::min(attempt - 1, 20)) > give_up;
    TransportFailure failure;
    absl::StatusOr<Response> r = Attempt(request, payload_hash, &failure);
    if (!r.ok()) {
      if (failure.message.empty()) return r.status();
      const std::string where =
          !failure.sent     ? absl::StrCat("cannot connect to ", address_.endpoint)
          : failure.timeout ? absl::StrCat("no answer from ", address_.endpoint)
                            : absl::StrCat("request to ", address_.endpoint, " failed");
      const std::string message =
          absl::StrCat(display_, ": ", where, ": ", failure.message, " (", request.what,
                       ", attempt ", attempt, " of ", options_.max_attempts, ")");
      ambiguous = ambiguous || failure.sent;
      if (!failure.retryable || last) return absl::UnavailableError(message);
      spdlog::debug("{}; retrying", message);
      continue;
    }
    r->ambiguous = ambiguous;
    if (r->status < 400) return r;
    const ServerError e = ParseError(r->body);
    if (!RetryableHttp(r->status, e)) return r;
    if (last) return HttpError(*r, request.what);
    // A write answered with 5xx may still have happened.
    ambiguous = ambiguous || request.method != "GET";
    spdlog::debug("{}: {}: HTTP {} {}; retrying", display_, request.what, r->status, e.code);
  }
}

absl::Status S3Client::HttpError(const Response& r, std::string_view what) const {
  const ServerError e = ParseError(r.body);
  std::string detail = absl::StrCat("HTTP ", r.status);
  if (!e.code.empty()) absl::StrAppend(&detail, " ", e.code);
  if (!e.message.empty()) absl::StrAppend(&detail, ": ", e.message);
  const std::string message = absl::StrCat(display_, ": ", ToAbslView(what), ": ", detail,
                                           " (endpoint ", address_.endpoint, ")");
  if (r.status == 403) {
    return absl::PermissionDeniedError(
        absl::StrCat(message, "; credentials from ", credentials_.source));
  }
  if (e.code == "NoSuchBucket") {
    return absl::NotFoundError(absl::StrCat(display_, ": bucket \"", address_.bucket,
                                            "\" does not exist at ", address_.endpoint, " (",
                                            ToAbslView(what), ")"));
  }
  if (r.status == 404) return absl::NotFoundError(message);
  if (r.status == 416) return absl::OutOfRangeError(message);
  if (r.status == 400) return absl::InvalidArgumentError(message);
  if (r.status == 409 || r.status == 412) return absl::FailedPreconditionError(message);
  if (r.status == 405 || r.status == 501) return absl::UnimplementedError(message);
  if (r.status >= 500 || r.status == 429) {
    return absl::UnavailableError(
        absl::StrCat(message, " after ", options_.max_attempts, " attempts"));
  }
  return absl::UnknownError(message);
}

absl::Status S3Client::CheckBucket() {
  Request req{.method = "HEAD", .what = "HEAD bucket"};
  ASSIGN_OR_RETURN(Response r, Execute(req));
  if (r.status < 300) return absl::OkStatus();
  if (r.status == 404) {
    return absl::NotFoundError(absl::StrCat(display_, ": bucket \"", address_.bucket,
                                            "\" does not exist at ", address_.endpoint));
  }
  return HttpError(r, req.what);
}

absl::StatusOr<std::optional<GetResult>> S3Client::Get(std::string_view key) {
  return DoGet(key, std::nullopt);
}

absl::StatusOr<std::optional<GetResult>> S3Client::GetRange(std::string_view key, uint64_t offset,
                                                            uint64_t length) {
  if (length == 0) {
    return absl::InvalidArgumentError(
        Context(absl::StrCat("GET ", ToAbslView(key), ": empty range")));
  }
  return DoGet(key, std::make_pair(offset, length));
}

absl::StatusOr<std::optional<GetResult>> S3Client::DoGet(
    std::string_view key, std::optional<std::pair<uint64_t, uint64_t>> range) {
  if (key.empty()) return absl::InvalidArgumentError(Context("GET: empty key"));
  Request req{.method = "GET",
              .full_key = address_.FullKey(key),
              .what = absl::StrCat("GET ", ToAbslView(key))};
  if (range) {
    const uint64_t last = range->first + std::min(range->second - 1, UINT64_MAX - range->first);
    req.headers.emplace_back("range", absl::StrCat("bytes=", range->first, "-", last));
  }
  ASSIGN_OR_RETURN(Response r, Execute(req));
  if (r.status == 404 && ParseError(r.body).code != "NoSuchBucket") return std::nullopt;
  if (r.status != 200 && r.status != 206) return HttpError(r, req.what);
  GetResult out;
  out.etag = Unquote(r.Header("etag"));
  out.object_size = r.body.size();
  out.last_modified = ParseHttpDate(r.Header("last-modified"));
  out.metadata = r.UserMetadata();
  if (r.status == 206) {
    // Content-Range: bytes FIRST-LAST/TOTAL
    std::string content_range = r.Header("content-range");
    size_t slash = content_range.rfind('/');
    if (slash == std::string::npos ||
        !absl::SimpleAtoi(ToAbslView(std::string_view(content_range).substr(slash + 1)),
                          &out.object_size)) {
      return absl::DataLossError(Context(
          absl::StrCat(req.what, ": bad Content-Range \"", content_range, "\" in a 206 answer")));
    }
  }
  if (range && r.status == 200 && range->first > 0) {
    return absl::DataLossError(Context(absl::StrCat(req.what, ": the server ignored the range")));
  }
  if (range && r.body.size() > range->second) r.body.resize(range->second);
  out.data = std::move(r.body);
  return out;
}

absl::StatusOr<std::optional<ObjectInfo>> S3Client::Head(std::string_view key) {
  if (key.empty()) return absl::InvalidArgumentError(Context("HEAD: empty key"));
  Request req{.method = "HEAD",
              .full_key = address_.FullKey(key),
              .what = absl::StrCat("HEAD ", ToAbslView(key))};
  ASSIGN_OR_RETURN(Response r, Execute(req));
  if (r.status == 404) return std::nullopt;
  if (r.status != 200) return HttpError(r, req.what);
  ObjectInfo info;
  info.etag = Unquote(r.Header("etag"));
  info.last_modified = ParseHttpDate(r.Header("last-modified"));
  info.metadata = r.UserMetadata();
  if (!absl::SimpleAtoi(ToAbslView(r.Header("content-length")), &info.size)) {
    return absl::DataLossError(Context(absl::StrCat(req.what, ": no Content-Length")));
  }
  return info;
}

absl::StatusOr<PutResult> S3Client::Put(std::string_view key, std::string_view data,
                                        const PutOptions& options) {
  if (key.empty()) return absl::InvalidArgumentError(Context("PUT: empty key"));
  if (options.if_absent && options.if_match) {
    return absl::InvalidArgumentError(Context(
        absl::StrCat("PUT ", ToAbslView(key), ": if_absent and if_match exclude each other")));
  }
  if (!options.if_absent && !options.if_match && data.size() >= options_.multipart_threshold) {
    if (!options.metadata.empty()) {
      return absl::InvalidArgumentError(Context(absl::StrCat(
          "PUT ", ToAbslView(key), ": metadata on a multipart upload is not supported")));
    }
    return PutMultipart(key, data);
  }
  ASSIGN_OR_RETURN(PutResult result, PutOnce(key, data, options));
  if (result.stored || !options.if_match || bare_if_match_.load()) return result;
  // Ceph RGW 16 compares If-Match with the ETag as stored, without quotes,
  // so a quoted ETag never matches there. When the object does carry the
  // ETag we sent, this server is one of those: from now on send it bare.
  ASSIGN_OR_RETURN(std::optional<ObjectInfo> now, Head(key));
  if (!now || now->etag != Unquote(*options.if_match)) return result;
  spdlog::debug("{}: the server wants bare ETags in If-Match", display_);
  bare_if_match_ = true;
  return PutOnce(key, data, options);
}

absl::StatusOr<PutResult> S3Client::PutOnce(std::string_view key, std::string_view data,
                                            const PutOptions& options) {
  Request req{.method = "PUT",
              .full_key = address_.FullKey(key),
              .body = data,
              .what = absl::StrCat("PUT ", ToAbslView(key))};
  if (options.if_absent) req.headers.emplace_back("if-none-match", "*");
  for (const auto& [name, value] : options.metadata) {
    req.headers.emplace_back(absl::StrCat(kMetaPrefix, name), value);
  }
  if (options.if_match) {
    const std::string bare = Unquote(*options.if_match);
    req.headers.emplace_back("if-match",
                             bare_if_match_.load() ? bare : absl::StrCat("\"", bare, "\""));
  }
  ASSIGN_OR_RETURN(Response r, Execute(req));
  PutResult result;
  if (r.status == 412) {
    result.ambiguous = r.ambiguous;
    return result;
  }
  if (r.status != 200) return HttpError(r, req.what);
  result.stored = true;
  result.etag = Unquote(r.Header("etag"));
  return result;
}

absl::Status S3Client::Delete(std::string_view key) {
  if (key.empty()) return absl::InvalidArgumentError(Context("DELETE: empty key"));
  Request req{.method = "DELETE",
              .full_key = address_.FullKey(key),
              .what = absl::StrCat("DELETE ", ToAbslView(key))};
  ASSIGN_OR_RETURN(Response r, Execute(req));
  if (r.status == 200 || r.status == 204) return absl::OkStatus();
  if (r.status == 404 && ParseError(r.body).code != "NoSuchBucket") return absl::OkStatus();
  return HttpError(r, req.what);
}

absl::StatusOr<std::optional<ObjectInfo>> S3Client::Touch(std::string_view key,
                                                          const Metadata& metadata) {
  if (key.empty()) return absl::InvalidArgumentError(Context("COPY: empty key"));
  const std::string full_key = address_.FullKey(key);
  Request req{
      .method = "PUT", .full_key = full_key, .what = absl::StrCat("COPY ", ToAbslView(key))};
  req.headers.emplace_back("x-amz-copy-source",
                           absl::StrCat("/", address_.bucket, "/", UriEncode(full_key, false)));
  // S3 refuses to copy an object onto itself unchanged; new metadata is a
  // change, even when it is the same.
  req.headers.emplace_back("x-amz-metadata-directive", "REPLACE");
  for (const auto& [name, value] : metadata) {
    req.headers.emplace_back(absl::StrCat(kMetaPrefix, name), value);
  }
  ASSIGN_OR_RETURN(Response r, Execute(req));
  if (r.status == 404 && ParseError(r.body).code != "NoSuchBucket") return std::nullopt;
  if (r.status != 200) return HttpError(r, req.what);
  // A copy may fail after its 200 status line: the error is in the body.
  absl::StatusOr<XmlElement> xml = ParseXml(r.body);
  if (!xml.ok() || xml->name != "CopyObjectResult") {
    ServerError e = ParseError(r.body);
    if (e.code == "NoSuchKey") return std::nullopt;
    return absl::UnavailableError(Context(absl::StrCat(
        req.what, ": failed: ", e.code.empty() ? "no result" : e.code, " ", e.message)));
  }
  ObjectInfo info;
  info.etag = Unquote(xml->ChildText("ETag"));
  info.last_modified = ParseIsoTime(xml->ChildText("LastModified"));
  info.metadata = metadata;
  return info;
}

absl::StatusOr<ListPage> S3Client::List(std::string_view prefix, std::string_view token,
                                        int max_keys) {
  if (max_keys < 1 || max_keys > 1000) {
    return absl::InvalidArgumentError(Context("LIST: max_keys must be in [1, 1000]"));
  }
  const std::string base = address_.prefix.empty() ? "" : address_.prefix + "/";
  Request req{.method = "GET", .what = absl::StrCat("LIST ", ToAbslView(prefix))};
  req.query = {{"list-type", "2"},
               {"prefix", base + std::string(prefix)},
               {"max-keys", std::to_string(max_keys)}};
  if (!token.empty()) req.query.emplace_back("continuation-token", std::string(token));
  ASSIGN_OR_RETURN(Response r, Execute(req));
  if (r.status != 200) return HttpError(r, req.what);
  absl::StatusOr<XmlElement> xml = ParseXml(r.body);
  if (!xml.ok() || xml->name != "ListBucketResult") {
    return absl::DataLossError(Context(absl::StrCat(
        req.what, ": not a ListBucketResult: ", xml.ok() ? xml->name : xml.status().message())));
  }
  ListPage page;
  for (const XmlElement& c : xml->children) {
    if (c.name != "Contents") continue;
    ObjectEntry entry;
    std::string key = c.ChildText("Key");
    if (!std::string_view(key).starts_with(base) || key.size() == base.size()) {
      return absl::DataLossError(Context(
          absl::StrCat(req.what, ": the listing holds key \"", key, "\" outside the prefix")));
    }
    entry.key = key.substr(base.size());
    entry.etag = Unquote(c.ChildText("ETag"));
    entry.last_modified = ParseIsoTime(c.ChildText("LastModified"));
    if (!absl::SimpleAtoi(ToAbslView(c.ChildText("Size")), &entry.size)) {
      return absl::DataLossError(
          Context(absl::StrCat(req.what, ": bad Size for key \"", key, "\"")));
    }
    page.objects.push_back(std::move(entry));
  }
  if (xml->ChildText("IsTruncated") == "true") {
    page.next_token = xml->ChildText("NextContinuationToken");
    if (page.next_token.empty() || page.next_token == token) {
      return absl::DataLossError(
          Context(absl::StrCat(req.what, ": truncated listing without a new continuation token")));
    }
  }
  return page;
}

absl::Status S3Client::ForEach(std::string_view prefix,
                               absl::FunctionRef<absl::Status(const ObjectEntry&)> fn) {
  std::string token;
  do {
    ASSIGN_OR_RETURN(ListPage page, List(prefix, token));
    for (const ObjectEntry& entry : page.objects) RETURN_IF_ERROR(fn(entry));
    token = std::move(page.next_token);
  } while (!token.empty());
  return absl::OkStatus();
}

absl::Status S3Client::CreateBucket() {
  std::string body;
  if (!address_.custom_endpoint && address_.region != "us-east-1") {
    body = absl::StrCat(
        "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        "<LocationConstraint>",
        XmlEscape(address_.region), "</LocationConstraint></CreateBucketConfiguration>");
  }
  Request req{.method = "PUT", .body = body, .what = "create bucket"};
  ASSIGN_OR_RETURN(Response r, Execute(req));
  if (r.status == 200) return absl::OkStatus();
  if (r.status == 409 && ParseError(r.body).code == "BucketAlreadyOwnedByYou") {
    return absl::OkStatus();
  }
  return HttpError(r, req.what);
}

absl::Status S3Client::DeleteBucket() {
  Request req{.method = "DELETE", .what = "delete bucket"};
  ASSIGN_OR_RETURN(Response r, Execute(req));
  if (r.status == 200 || r.status == 204) return absl::OkStatus();
  return HttpError(r, req.what);
}

absl::StatusOr<std::unique_ptr<MultipartUpload>> S3Client::StartMultipart(std::string_view key) {
  if (key.empty()) return absl::InvalidArgumentError(Context("multipart upload: empty key"));
  Request req{.method = "POST",
              .full_key = address_.FullKey(key),
              .query = {{"uploads", ""}},
              .what = absl::StrCat("start multipart upload of ", ToAbslView(key))};
  ASSIGN_OR_RETURN(Response r, Execute(req));
  if (r.status != 200) return HttpError(r, req.what);
  absl::StatusOr<XmlElement> xml = ParseXml(r.body);
  std::string upload_id;
  if (xml.ok() && xml->name == "InitiateMultipartUploadResult") {
    upload_id = xml->ChildText("UploadId");
  }
  if (upload_id.empty()) {
    return absl::DataLossError(Context(absl::StrCat(req.what, ": no UploadId in the answer")));
  }
  return std::unique_ptr<MultipartUpload>(new MultipartUpload(this, std::string(key), upload_id));
}

absl::StatusOr<std::string> S3Client::UploadPart(const std::string& key,
                                                 const std::string& upload_id, int part_number,
                                                 std::string_view data) {
  Request req{.method = "PUT",
              .full_key = address_.FullKey(key),
              .query = {{"partNumber", std::to_string(part_number)}, {"uploadId", upload_id}},
              .body = data,
              .what = absl::StrCat("upload part ", part_number, " of ", key)};
  ASSIGN_OR_RETURN(Response r, Execute(req));
  if (r.status != 200) return HttpError(r, req.what);
  std::string etag = r.Header("etag");
  if (etag.empty()) {
    return absl::DataLossError(Context(absl::StrCat(req.what, ": no ETag in the answer")));
  }
  return etag;
}

absl::StatusOr<std::string> S3Client::CompleteMultipart(
    const std::string& key, const std::string& upload_id,
    const std::vector<std::string>& part_etags) {
  std::string body = "<CompleteMultipartUpload>";
  for (size_t i = 0; i < part_etags.size(); ++i) {
    absl::StrAppend(&body, "<Part><PartNumber>", i + 1, "</PartNumber><ETag>",
                    XmlEscape(part_etags[i]), "</ETag></Part>");
  }
  body += "</CompleteMultipartUpload>";
  Request req{.method = "POST",
              .full_key = address_.FullKey(key),
              .query = {{"uploadId", upload_id}},
              .body = body,
              .what = absl::StrCat("complete multipart upload of ", key)};
  ASSIGN_OR_RETURN(Response r, Execute(req));
  if (r.status != 200) return HttpError(r, req.what);
  // S3 may report a failure in a 200 answer's body.
  absl::StatusOr<XmlElement> xml = ParseXml(r.body);
  if (!xml.ok() || xml->name != "CompleteMultipartUploadResult") {
    ServerError e = ParseError(r.body);
    return absl::UnavailableError(Context(absl::StrCat(
        req.what, ": failed: ", e.code.empty() ? "no result" : e.code, " ", e.message)));
  }
  std::string etag = Unquote(xml->ChildText("ETag"));
  if (etag.empty()) {
    // Ceph RGW 16 leaves the result's ETag empty; the object has it.
    ASSIGN_OR_RETURN(std::optional<ObjectInfo> info, Head(key));
    if (info) etag = info->etag;
  }
  return etag;
}

absl::Status S3Client::AbortMultipart(const std::string& key, const std::string& upload_id) {
  Request req{.method = "DELETE",
              .full_key = address_.FullKey(key),
              .query = {{"uploadId", upload_id}},
              .what = absl::StrCat("abort multipart upload of ", key)};
  ASSIGN_OR_RETURN(Response r, Execute(req));
  if (r.status == 200 || r.status == 204 || r.status == 404) return absl::OkStatus();
  return HttpError(r, req.what);
}

absl::StatusOr<PutResult> S3Client::PutMultipart(std::string_view key, std::string_view data) {
  uint64_t part_size = options_.part_size;
  // Stay within S3's 10,000 parts.
  if (data.size() / part_size >= kMaxParts) part_size = data.size() / (kMaxParts - 1);
  ASSIGN_OR_RETURN(std::unique_ptr<MultipartUpload> upload, StartMultipart(key));
  for (uint64_t offset = 0; offset < data.size(); offset += part_size) {
    absl::Status s = upload->AddPart(std::string(data.substr(offset, part_size)));
    if (!s.ok()) {
      upload->Abort().IgnoreError();
      return s;
    }
  }
  ASSIGN_OR_RETURN(std::string etag, upload->Complete());
  return PutResult{.stored = true, .etag = std::move(etag)};
}

MultipartUpload::MultipartUpload(S3Client* client, std::string key, std::string upload_id)
    : client_(client), key_(std::move(key)), upload_id_(std::move(upload_id)) {}

MultipartUpload::~MultipartUpload() {
  if (!finished_) {
    absl::Status s = Abort();
    if (!s.ok()) spdlog::warn("{}", ToStdView(s.message()));
  }
  StopWorkers();
}

void MultipartUpload::Work() {
  for (;;) {
    Part part;
    {
      MutexLock lock(&mu_);
      mu_.Await([this]()
                    ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !queue_.empty() || closing_; });
      if (queue_.empty()) return;
      part = std::move(queue_.front());
      queue_.pop_front();
      if (!error_.ok()) continue;  // the upload failed: drop the rest
      ++uploading_;
    }
    absl::StatusOr<std::string> etag =
        client_->UploadPart(key_, upload_id_, part.number, part.data);
    MutexLock lock(&mu_);
    --uploading_;
    if (!etag.ok()) {
      if (error_.ok()) error_ = etag.status();
    } else {
      if (etags_.size() < static_cast<size_t>(part.number)) etags_.resize(part.number);
      etags_[part.number - 1] = *std::move(etag);
    }
  }
}

void MultipartUpload::StopWorkers() {
  {
    MutexLock lock(&mu_);
    closing_ = true;
  }
  for (std::thread& t : workers_) t.join();
  workers_.clear();
}

absl::Status MultipartUpload::AddPart(std::string data) {
  if (finished_) {
    return absl::FailedPreconditionError(
        client_->Context(absl::StrCat("multipart upload of ", key_, " is finished")));
  }
  const int concurrency = client_->options_.multipart_concurrency;
  {
    MutexLock lock(&mu_);
    mu_.Await([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return !error_.ok() || static_cast<int>(queue_.size()) + uploading_ < concurrency;
    });
    if (!error_.ok()) return error_;
    if (next_number_ > kMaxParts) {
      return absl::InvalidArgumentError(
          client_->Context(absl::StrCat("multipart upload of ", key_, ": more than 10000 parts")));
    }
    queue_.push_back(Part{.number = next_number_++, .data = std::move(data)});
  }
  if (static_cast<int>(workers_.size()) < concurrency) workers_.emplace_back([this] { Work(); });
  return absl::OkStatus();
}

absl::StatusOr<std::string> MultipartUpload::Complete() {
  if (finished_) {
    return absl::FailedPreconditionError(
        client_->Context(absl::StrCat("multipart upload of ", key_, " is finished")));
  }
  StopWorkers();
  std::vector<std::string> etags;
  absl::Status error;
  int parts;
  {
    MutexLock lock(&mu_);
    error = error_;
    etags = etags_;
    parts = next_number_ - 1;
  }
  if (error.ok() && parts == 0) {
    // S3 wants at least one part: an empty object.
    absl::StatusOr<std::string> etag = client_->UploadPart(key_, upload_id_, 1, "");
    if (etag.ok()) {
      etags.push_back(*etag);
    } else {
      error = etag.status();
    }
  }
  absl::StatusOr<std::string> result =
      error.ok() ? client_->CompleteMultipart(key_, upload_id_, etags) : error;
  if (!result.ok()) {
    absl::Status abort = Abort();
    if (!abort.ok()) spdlog::warn("{}", ToStdView(abort.message()));
    return result.status();
  }
  finished_ = true;
  return result;
}

absl::Status MultipartUpload::Abort() {
  if (finished_) return absl::OkStatus();
  {
    MutexLock lock(&mu_);
    if (error_.ok()) error_ = absl::CancelledError("multipart upload aborted");
    queue_.clear();
  }
  StopWorkers();
  finished_ = true;
  return client_->AbortMultipart(key_, upload_id_);
}

}  // namespace castor::s3
