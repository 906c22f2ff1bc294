// An S3 client for one bucket and key prefix (an S3Address), on libcurl and
// OpenSSL with SigV4 signing: object GET (whole or a byte range), HEAD, PUT
// (optionally create-only or compare-and-swap), DELETE, ListObjectsV2 with
// pagination, and multipart uploads whose parts go up in parallel.
//
// Built for many small requests from many threads: each call blocks only
// its caller, up to max_connections requests are in flight at once (each on
// its own kept-alive connection, reused across calls), more callers wait for
// a free connection. Failed requests are retried with exponential backoff and
// full jitter on connection errors, timeouts, HTTP 5xx and 429 (never on
// other 4xx), and no request waits without bound: connecting has a timeout,
// and a transfer that moves no byte for idle_timeout fails.
//
// Errors (each message names the store, the operation and the endpoint):
// absence is not an error (nullopt); 403 -> PermissionDenied (with the
// server's code and message); a missing bucket -> NotFound; 400 ->
// InvalidArgument; a range past the end -> OutOfRange; 5xx or 429 after the
// last attempt, connection failures and timeouts -> Unavailable.
//
// Keys are relative to the address's prefix. S3Client is thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "base/mutex.h"
#include "s3/credentials.h"
#include "s3/s3_address.h"

namespace castor::s3 {

struct S3ClientOptions {
  // Requests in flight at once, each on its own kept-alive connection.
  int max_connections = 32;
  absl::Duration connect_timeout = absl::Seconds(10);
  // A request that sends or receives no byte for this long fails (and is
  // retried): the bound on a server that stops answering.
  absl::Duration idle_timeout = absl::Seconds(30);
  // Attempts per request (1: no retries). Waits between attempts are random
  // in [0, min(backoff_cap, backoff_base * 2^retry)].
  int max_attempts = 5;
  absl::Duration backoff_base = absl::Milliseconds(100);
  absl::Duration backoff_cap = absl::Seconds(5);
  // No new attempt starts once a call has run this long, so a call against
  // a server that stops answering ends after at most about this plus one
  // idle_timeout (a mount needs EIO, not minutes of retries).
  absl::Duration retry_budget = absl::InfiniteDuration();
  // Put() of an unconditional object from this size on is a multipart upload
  // of part_size parts (S3's minimum part is 5 MiB), up to
  // multipart_concurrency parts uploading at once.
  uint64_t multipart_threshold = uint64_t{64} << 20;
  uint64_t part_size = uint64_t{16} << 20;
  int multipart_concurrency = 4;
  // Sign bodies as UNSIGNED-PAYLOAD instead of their SHA-256. Saves hashing
  // every byte, but then nothing proves the body to the server: use it over
  // https only.
  bool unsigned_payload = false;
};

// User metadata (x-amz-meta-NAME headers): lower-case NAME and value.
using Metadata = std::vector<std::pair<std::string, std::string>>;

// The value of metadata `name`, or nullopt.
std::optional<std::string> MetadataValue(const Metadata& metadata, std::string_view name);

struct GetResult {
  std::string data;
  std::string etag;  // without quotes
  uint64_t object_size = 0;
  absl::Time last_modified = absl::InfinitePast();  // the server's clock
  Metadata metadata;
};

struct ObjectInfo {
  uint64_t size = 0;
  std::string etag;                                 // without quotes
  absl::Time last_modified = absl::InfinitePast();  // the server's clock
  Metadata metadata;
};

struct ObjectEntry {
  std::string key;  // relative to the address's prefix
  uint64_t size = 0;
  std::string etag;                                 // without quotes
  absl::Time last_modified = absl::InfinitePast();  // the server's clock
};

struct ListPage {
  std::vector<ObjectEntry> objects;  // in key order
  std::string next_token;            // "" on the last page
};

struct PutOptions {
  // Create only (If-None-Match: *): not stored when the key exists.
  bool if_absent = false;
  // Compare-and-swap (If-Match): stored only over the object with this ETag
  // (quoted or not); not stored when it changed or is absent.
  std::optional<std::string> if_match;
  // Stored with the object (x-amz-meta-*); names lower-case.
  Metadata metadata;
};

struct PutResult {
  // False when the condition did not hold (HTTP 412 Precondition Failed).
  bool stored = false;
  std::string etag;  // of the stored object, without quotes
  // The condition failed on a retry after an attempt whose outcome is
  // unknown (lost connection or 5xx after the body went out): that attempt
  // may have stored this very object. A caller that must know reads it back.
  bool ambiguous = false;
};

struct S3ClientStats {
  uint64_t requests = 0;     // attempts sent, retries included
  uint64_t retries = 0;      // attempts after a failed one
  uint64_t connections = 0;  // TCP connections opened
};

class MultipartUpload;

class S3Client {
 public:
  // Validates the options (InvalidArgument naming the bad one).
  static absl::StatusOr<std::unique_ptr<S3Client>> Create(S3Address address,
                                                          Credentials credentials,
                                                          S3ClientOptions options = {});
  // Parses `address` and loads credentials from the process environment.
  static absl::StatusOr<std::unique_ptr<S3Client>> Open(std::string_view address,
                                                        S3ClientOptions options = {});
  ~S3Client();
  S3Client(const S3Client&) = delete;
  S3Client& operator=(const S3Client&) = delete;

  const S3Address& address() const { return address_; }
  const S3ClientOptions& options() const { return options_; }

  // Whether the bucket is there and these credentials may use it: OK,
  // NotFound (no such bucket), PermissionDenied, Unavailable.
  absl::Status CheckBucket();

  // The whole object; nullopt when there is no such key.
  absl::StatusOr<std::optional<GetResult>> Get(std::string_view key);
  // Up to `length` (> 0) bytes from `offset`: fewer when the object ends
  // first; OutOfRange when `offset` is at or past its end.
  absl::StatusOr<std::optional<GetResult>> GetRange(std::string_view key, uint64_t offset,
                                                    uint64_t length);
  // Size and ETag; nullopt when there is no such key.
  absl::StatusOr<std::optional<ObjectInfo>> Head(std::string_view key);
  // Stores `data` under `key`. With a condition, always one request (up to
  // S3's 5 GiB); without, a multipart upload from multipart_threshold on.
  absl::StatusOr<PutResult> Put(std::string_view key, std::string_view data,
                                const PutOptions& options = {});
  // Removes `key`; OK when it is already gone.
  absl::Status Delete(std::string_view key);
  // Copies the object onto itself on the server (no data passes through the
  // client), with `metadata` replacing its user metadata: the object keeps
  // its bytes and gets a new LastModified. A writer that reuses an old
  // object refreshes it this way, so that a garbage collector with a grace
  // period keeps it. nullopt when there is no such key.
  absl::StatusOr<std::optional<ObjectInfo>> Touch(std::string_view key, const Metadata& metadata);

  // One page of the keys starting with `prefix`, after `token` (the
  // previous page's next_token; "" for the first), at most `max_keys`.
  absl::StatusOr<ListPage> List(std::string_view prefix, std::string_view token = "",
                                int max_keys = 1000);
  // Every key starting with `prefix`, page by page, until `fn` fails (its
  // error is returned).
  absl::Status ForEach(std::string_view prefix,
                       absl::FunctionRef<absl::Status(const ObjectEntry&)> fn);

  // Starts a multipart upload of `key`. The client must outlive it.
  absl::StatusOr<std::unique_ptr<MultipartUpload>> StartMultipart(std::string_view key);

  // For tests and setup: creates the bucket (OK when this account already
  // owns it); deletes the (empty) bucket.
  absl::Status CreateBucket();
  absl::Status DeleteBucket();

  S3ClientStats stats() const;

 private:
  friend class MultipartUpload;
  struct Request;
  struct Response;
  class HandlePool;

  S3Client(S3Address address, Credentials credentials, S3ClientOptions options);

  // Sends `request` until it gets a final answer: any HTTP status except
  // 5xx / 429 (those and transport failures are retried; after the last
  // attempt they become Unavailable).
  absl::StatusOr<Response> Execute(const Request& request);
  struct TransportFailure {
    std::string message;     // curl's, empty when the attempt got an answer
    bool sent = false;       // the request went out (a write may have happened)
    bool timeout = false;    // connect or idle timeout
    bool retryable = false;  // worth another attempt
  };
  absl::StatusOr<Response> Attempt(const Request& request, const std::string& payload_hash,
                                   TransportFailure* failure);
  // The status for an HTTP error answer.
  absl::Status HttpError(const Response& response, std::string_view what) const;
  std::string Context(std::string_view what) const;
  absl::StatusOr<std::optional<GetResult>> DoGet(
      std::string_view key, std::optional<std::pair<uint64_t, uint64_t>> range);
  absl::StatusOr<PutResult> PutOnce(std::string_view key, std::string_view data,
                                    const PutOptions& options);
  absl::StatusOr<PutResult> PutMultipart(std::string_view key, std::string_view data);
  // Keys relative to the prefix, as everywhere.
  absl::StatusOr<std::string> UploadPart(const std::string& key, const std::string& upload_id,
                                         int part_number, std::string_view data);
  absl::StatusOr<std::string> CompleteMultipart(const std::string& key,
                                                const std::string& upload_id,
                                                const std::vector<std::string>& part_etags);
  absl::Status AbortMultipart(const std::string& key, const std::string& upload_id);

  const S3Address address_;
  const Credentials credentials_;
  const S3ClientOptions options_;
  const std::string display_;  // address_.Display()
  std::unique_ptr<HandlePool> pool_;
  // Set once the server turned out to compare If-Match against the bare
  // ETag (Ceph RGW 16 answers 412 to a quoted one, even when it matches).
  std::atomic<bool> bare_if_match_{false};
  std::atomic<uint64_t> requests_{0};
  std::atomic<uint64_t> retries_{0};
  std::atomic<uint64_t> connections_{0};
};

// A multipart upload in progress: parts go up in the background, up to the
// client's multipart_concurrency at once. Thread-compatible: one thread adds
// parts and completes; the workers are internal. Destroying an upload that
// was neither completed nor aborted aborts it.
class MultipartUpload {
 public:
  ~MultipartUpload();
  MultipartUpload(const MultipartUpload&) = delete;
  MultipartUpload& operator=(const MultipartUpload&) = delete;

  // Queues the next part (numbered in call order; every part but the last
  // must be at least 5 MiB). Blocks while multipart_concurrency parts are
  // queued or uploading. Returns the first error of any earlier part.
  absl::Status AddPart(std::string data);
  // Waits for every part and completes the upload: the object's ETag
  // (without quotes). On any error the upload is aborted.
  absl::StatusOr<std::string> Complete();
  // Stops the upload and discards its parts on the server.
  absl::Status Abort();

  const std::string& upload_id() const { return upload_id_; }

 private:
  friend class S3Client;
  MultipartUpload(S3Client* client, std::string key, std::string upload_id);
  void Work();
  void StopWorkers();

  S3Client* const client_;
  const std::string key_;
  const std::string upload_id_;
  bool finished_ = false;  // completed or aborted
  std::vector<std::thread> workers_;

  Mutex mu_;
  struct Part {
    int number;
    std::string data;
  };
  std::deque<Part> queue_ ABSL_GUARDED_BY(mu_);
  int uploading_ ABSL_GUARDED_BY(mu_) = 0;
  int next_number_ ABSL_GUARDED_BY(mu_) = 1;
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::string> etags_ ABSL_GUARDED_BY(mu_);  // by part number - 1
  absl::Status error_ ABSL_GUARDED_BY(mu_);
};

}  // namespace castor::s3
