// S3Client's retry and error rules against a scripted HTTP server on
// 127.0.0.1 that answers each request with the next canned reply (RGW cannot
// be made to answer 503 or drop a connection on cue).
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/mutex.h"
#include "s3/s3_client.h"

namespace castor::s3 {
namespace {

using ::testing::HasSubstr;

struct Reply {
  std::string raw;       // the whole HTTP response
  bool hang_up = false;  // read the request, then close without answering
};

Reply Http(int status, const std::string& body = "", const std::string& headers = "") {
  return Reply{absl::StrCat("HTTP/1.1 ", status, " Scripted\r\nContent-Length: ", body.size(),
                            "\r\n", headers, "\r\n", body)};
}

Reply S3Error(int status, const std::string& code, const std::string& message = "") {
  return Http(status, absl::StrCat("<?xml version=\"1.0\"?><Error><Code>", code, "</Code><Message>",
                                   message, "</Message></Error>"));
}

class ScriptedServer {
 public:
  // Replies in order; the last one repeats.
  explicit ScriptedServer(std::vector<Reply> replies) : replies_(std::move(replies)) {
    listen_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(listen_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(::listen(listen_, 16), 0);
    socklen_t len = sizeof(addr);
    ::getsockname(listen_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~ScriptedServer() {
    stop_ = true;
    thread_.join();
    ::close(listen_);
  }

  std::string endpoint() const { return absl::StrCat("http://127.0.0.1:", port_); }
  int requests() {
    MutexLock lock(&mu_);
    return static_cast<int>(heads_.size());
  }
  std::vector<std::string> heads() {
    MutexLock lock(&mu_);
    return heads_;
  }
  std::vector<std::string> bodies() {
    MutexLock lock(&mu_);
    return bodies_;
  }

 private:
  // Waits for `fd` to be readable, giving up when the server stops.
  bool Readable(int fd) {
    while (!stop_) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 50) > 0) return true;
    }
    return false;
  }

  // Appends what `fd` has; false at its end (or when the server stops).
  bool ReadMore(int fd, std::string* buffer) {
    char chunk[65536];
    ssize_t n = Readable(fd) ? ::read(fd, chunk, sizeof(chunk)) : 0;
    if (n <= 0) return false;
    buffer->append(chunk, n);
    return true;
  }

  void Serve() {
    while (Readable(listen_)) {
      int conn = ::accept4(listen_, nullptr, nullptr, SOCK_CLOEXEC);
      if (conn < 0) continue;
      std::string buffer;
      bool open = true;
      while (open) {
        size_t head_end;
        while ((head_end = buffer.find("\r\n\r\n")) == std::string::npos) {
          if (!(open = ReadMore(conn, &buffer))) break;
        }
        if (!open) break;
        std::string head = absl::AsciiStrToLower(buffer.substr(0, head_end));
        size_t body_size = 0;
        if (size_t at = head.find("content-length: "); at != std::string::npos) {
          (void)absl::SimpleAtoi(head.substr(at + 16, head.find("\r\n", at) - at - 16), &body_size);
        }
        while (buffer.size() < head_end + 4 + body_size) {
          if (!(open = ReadMore(conn, &buffer))) break;
        }
        if (!open) break;
        Reply reply;
        {
          MutexLock lock(&mu_);
          heads_.push_back(head);
          bodies_.push_back(buffer.substr(head_end + 4, body_size));
          reply = replies_[std::min(heads_.size(), replies_.size()) - 1];
        }
        buffer.erase(0, head_end + 4 + body_size);
        if (reply.hang_up) break;
        if (::write(conn, reply.raw.data(), reply.raw.size()) !=
            static_cast<ssize_t>(reply.raw.size())) {
          break;
        }
        if (reply.raw.find("Connection: close") != std::string::npos) break;
      }
      ::close(conn);
    }
  }

  const std::vector<Reply> replies_;
  int listen_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  Mutex mu_;
  std::vector<std::string> heads_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> bodies_ ABSL_GUARDED_BY(mu_);
};

std::unique_ptr<S3Client> ClientFor(const ScriptedServer& server, S3ClientOptions options = {}) {
  options.backoff_base = absl::Milliseconds(1);
  absl::StatusOr<S3Address> address =
      S3Address::Parse(absl::StrCat("s3://bkt?endpoint=", server.endpoint()));
  EXPECT_TRUE(address.ok());
  auto client = S3Client::Create(
      *address, {.access_key_id = "k", .secret_access_key = "s", .source = "the test"}, options);
  EXPECT_TRUE(client.ok());
  return *std::move(client);
}

TEST(S3RetryTest, ServerErrorsAreRetriedUntilAnAnswer) {
  ScriptedServer server({S3Error(503, "SlowDown"), S3Error(500, "InternalError"),
                         Http(200, "payload", "ETag: \"abc\"\r\n")});
  auto client = ClientFor(server);
  auto got = client->Get("key");
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ((*got)->data, "payload");
  EXPECT_EQ((*got)->etag, "abc");
  EXPECT_EQ(server.requests(), 3);
  EXPECT_EQ(client->stats().retries, 2u);
}

TEST(S3RetryTest, ThrottlingAndRequestTimeoutAreRetried) {
  ScriptedServer server({Http(429), S3Error(400, "RequestTimeout"), Http(200, "ok")});
  auto client = ClientFor(server);
  auto got = client->Get("key");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(server.requests(), 3);
}

TEST(S3RetryTest, ClientErrorsAreFinal) {
  ScriptedServer server({S3Error(400, "InvalidArgument", "bad header")});
  auto client = ClientFor(server);
  auto got = client->Get("key");
  EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(got.status().message(), HasSubstr("s3://bkt: GET key: HTTP 400 InvalidArgument: "
                                                "bad header (endpoint " +
                                                server.endpoint() + ")"));
  EXPECT_EQ(server.requests(), 1);

  ScriptedServer denied({S3Error(403, "AccessDenied", "not yours")});
  auto put = ClientFor(denied)->Put("key", "v");
  EXPECT_EQ(put.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(put.status().message(), HasSubstr("AccessDenied: not yours"));
  EXPECT_THAT(put.status().message(), HasSubstr("credentials from the test"));
  EXPECT_EQ(denied.requests(), 1);
}

TEST(S3RetryTest, GivesUpAfterTheLastAttemptWithUnavailable) {
  ScriptedServer server({S3Error(503, "ServiceUnavailable", "busy")});
  auto client = ClientFor(server, {.max_attempts = 3});
  absl::Status s = client->Delete("key");
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(s.message(), HasSubstr("DELETE key: HTTP 503 ServiceUnavailable: busy"));
  EXPECT_THAT(s.message(), HasSubstr("after 3 attempts"));
  EXPECT_EQ(server.requests(), 3);
}

TEST(S3RetryTest, RetriedPutSendsTheWholeBodyAgain) {
  ScriptedServer server({S3Error(500, "InternalError"), Http(200, "", "ETag: \"e\"\r\n")});
  auto client = ClientFor(server);
  const std::string body(100000, 'z');
  absl::StatusOr<PutResult> put = client->Put("key", body);
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_TRUE(put->stored);
  EXPECT_EQ(put->etag, "e");
  EXPECT_EQ(server.bodies(), (std::vector<std::string>{body, body}));
}

TEST(S3RetryTest, ShortBodyIsRetriedNotReturned) {
  // Claims 100 bytes, sends 10 and closes.
  Reply truncated{"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nConnection: close\r\n\r\n0123456789"};
  ScriptedServer server({truncated, Http(200, std::string(100, 'x'))});
  auto client = ClientFor(server);
  auto got = client->Get("key");
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ((*got)->data, std::string(100, 'x'));
  EXPECT_EQ(server.requests(), 2);
}

TEST(S3RetryTest, PreconditionFailedAfterALostAnswerIsAmbiguous) {
  ScriptedServer server({Reply{.hang_up = true}, S3Error(412, "PreconditionFailed")});
  auto client = ClientFor(server);
  absl::StatusOr<PutResult> put = client->Put("root", "v", {.if_absent = true});
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_FALSE(put->stored);
  EXPECT_TRUE(put->ambiguous);
  EXPECT_EQ(server.requests(), 2);
  EXPECT_THAT(server.heads()[1], HasSubstr("if-none-match: *"));

  ScriptedServer plain({S3Error(412, "PreconditionFailed")});
  absl::StatusOr<PutResult> clear = ClientFor(plain)->Put("root", "v", {.if_absent = true});
  ASSERT_TRUE(clear.ok());
  EXPECT_FALSE(clear->stored);
  EXPECT_FALSE(clear->ambiguous);
}

TEST(S3RetryTest, RequestsCarryTheRangeAndASignature) {
  ScriptedServer server(
      {Http(206, "0123456789", "Content-Range: bytes 5-14/100\r\nETag: \"e\"\r\n")});
  auto client = ClientFor(server);
  auto got = client->GetRange("dir/a b", 5, 10);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ((*got)->object_size, 100u);
  const std::string head = server.heads()[0];
  EXPECT_THAT(head, HasSubstr("get /bkt/dir/a%20b http/1.1"));
  EXPECT_THAT(head, HasSubstr("range: bytes=5-14"));
  EXPECT_THAT(head, HasSubstr("authorization: aws4-hmac-sha256 credential=k/"));
  EXPECT_THAT(head, HasSubstr("signedheaders=host;range;x-amz-content-sha256;x-amz-date"));
}

TEST(S3RetryTest, SilentServerTimesOutWithinTheIdleTimeout) {
  // Reads every request and never answers (until it stops).
  ScriptedServer server({Reply{"", false}});
  auto client = ClientFor(server, {.idle_timeout = absl::Seconds(1), .max_attempts = 2});
  absl::Time start = absl::Now();
  auto got = client->Get("key");
  EXPECT_EQ(got.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(got.status().message(), HasSubstr("s3://bkt: no answer from " + server.endpoint()));
  EXPECT_LT(absl::Now() - start, absl::Seconds(20));
}

}  // namespace
}  // namespace castor::s3
