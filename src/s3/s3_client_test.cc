// S3Client against a real Ceph RGW (the shared test cluster; the fault tests
// start private ones).
#include "s3/s3_client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "s3/testing/ceph_cluster.h"

namespace castor::s3 {
namespace {

using ::testing::HasSubstr;
using testing::S3BucketTest;

std::string RandomData(size_t size, uint64_t seed) {
  std::string out(size, '\0');
  std::mt19937_64 rng(seed);
  for (char& c : out) c = static_cast<char>(rng());
  return out;
}

using S3ClientTest = S3BucketTest;

TEST_F(S3ClientTest, PutThenGetAndHeadReturnTheBytesSizeAndEtag) {
  absl::StatusOr<PutResult> put = client().Put("greeting", "hello, ceph");
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_TRUE(put->stored);
  EXPECT_EQ(put->etag.size(), 32u);  // MD5 hex, without quotes
  auto got = client().Get("greeting");
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ((*got)->data, "hello, ceph");
  EXPECT_EQ((*got)->etag, put->etag);
  EXPECT_EQ((*got)->object_size, 11u);
  auto head = client().Head("greeting");
  ASSERT_TRUE(head.ok()) << head.status();
  ASSERT_TRUE(head->has_value());
  EXPECT_EQ((*head)->size, 11u);
  EXPECT_EQ((*head)->etag, put->etag);
}

TEST_F(S3ClientTest, AbsentKeyIsNulloptNotAnError) {
  auto got = client().Get("nothing/here");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_FALSE(got->has_value());
  auto head = client().Head("nothing/here");
  ASSERT_TRUE(head.ok()) << head.status();
  EXPECT_FALSE(head->has_value());
  auto range = client().GetRange("nothing/here", 0, 10);
  ASSERT_TRUE(range.ok()) << range.status();
  EXPECT_FALSE(range->has_value());
}

TEST_F(S3ClientTest, EmptyObjectRoundTrips) {
  ASSERT_TRUE(client().Put("empty", "").ok());
  auto got = client().Get("empty");
  ASSERT_TRUE(got.ok() && got->has_value()) << got.status();
  EXPECT_EQ((*got)->data, "");
  auto head = client().Head("empty");
  ASSERT_TRUE(head.ok() && head->has_value());
  EXPECT_EQ((*head)->size, 0u);
}

TEST_F(S3ClientTest, GetRangeReturnsThoseBytesAndTheObjectSize) {
  const std::string data = RandomData(1 << 20, 1);
  ASSERT_TRUE(client().Put("blob", data).ok());
  struct Case {
    uint64_t offset, length;
  };
  for (Case c : {Case{0, 10}, Case{1000, 5000}, Case{(1 << 20) - 3, 100}, Case{0, 1 << 20}}) {
    auto got = client().GetRange("blob", c.offset, c.length);
    ASSERT_TRUE(got.ok() && got->has_value()) << got.status();
    EXPECT_EQ((*got)->data, data.substr(c.offset, c.length)) << c.offset;
    EXPECT_EQ((*got)->object_size, data.size());
  }
  auto past = client().GetRange("blob", data.size(), 1);
  EXPECT_EQ(past.status().code(), absl::StatusCode::kOutOfRange) << past.status();
  EXPECT_THAT(past.status().message(), HasSubstr("GET blob"));
  EXPECT_EQ(client().GetRange("blob", 0, 0).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(S3ClientTest, KeysWithAwkwardCharactersRoundTrip) {
  const std::vector<std::string> keys = {
      "a b+c",       "dir/../x",    "dir/./y",  "\xC3\xBC/\xC3\x9F",
      "q?x=1&y=%41", "tilde~star*", "trailing/"};
  for (const std::string& k : keys) {
    absl::StatusOr<PutResult> put = client().Put(k, "value of " + k);
    ASSERT_TRUE(put.ok()) << k << ": " << put.status();
  }
  for (const std::string& k : keys) {
    auto got = client().Get(k);
    ASSERT_TRUE(got.ok() && got->has_value()) << k << ": " << got.status();
    EXPECT_EQ((*got)->data, "value of " + k);
  }
  std::set<std::string> listed;
  ASSERT_TRUE(client()
                  .ForEach("",
                           [&](const ObjectEntry& e) {
                             listed.insert(e.key);
                             return absl::OkStatus();
                           })
                  .ok());
  EXPECT_EQ(listed, std::set<std::string>(keys.begin(), keys.end()));
}

TEST_F(S3ClientTest, DeleteRemovesAndIsIdempotent) {
  ASSERT_TRUE(client().Put("doomed", "x").ok());
  ASSERT_TRUE(client().Delete("doomed").ok());
  auto got = client().Get("doomed");
  ASSERT_TRUE(got.ok());
  EXPECT_FALSE(got->has_value());
  EXPECT_TRUE(client().Delete("doomed").ok());
  EXPECT_TRUE(client().Delete("never-existed").ok());
}

TEST_F(S3ClientTest, ListPaginatesWithContinuationTokensAndFiltersByPrefix) {
  std::vector<std::string> want;
  for (int i = 0; i < 25; ++i) {
    std::string key = absl::StrCat("chunks/", absl::Dec(i, absl::kZeroPad3));
    ASSERT_TRUE(client().Put(key, std::string(i, 'x')).ok());
    want.push_back(key);
  }
  ASSERT_TRUE(client().Put("other/one", "y").ok());
  std::vector<std::string> got;
  std::string token;
  int pages = 0;
  do {
    absl::StatusOr<ListPage> page = client().List("chunks/", token, 7);
    ASSERT_TRUE(page.ok()) << page.status();
    EXPECT_LE(page->objects.size(), 7u);
    for (const ObjectEntry& e : page->objects) {
      got.push_back(e.key);
      EXPECT_EQ(e.size, static_cast<uint64_t>(std::stoi(e.key.substr(7))));
      EXPECT_EQ(e.etag.size(), 32u);
    }
    token = page->next_token;
    ++pages;
  } while (!token.empty());
  EXPECT_EQ(pages, 4);
  EXPECT_EQ(got, want);
  EXPECT_EQ(client().List("chunks/", "", 0).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(S3ClientTest, ForEachWalksMoreThanOneDefaultPage) {
  constexpr int kKeys = 1100;  // RGW pages at 1000
  std::atomic<int> next{0};
  std::atomic<bool> failed{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i; (i = next++) < kKeys;) {
        if (!client().Put(absl::StrCat("k/", i), "v").ok()) failed = true;
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_FALSE(failed);
  std::set<std::string> seen;
  ASSERT_TRUE(client()
                  .ForEach("k/",
                           [&](const ObjectEntry& e) {
                             EXPECT_TRUE(seen.insert(e.key).second) << "twice: " << e.key;
                             return absl::OkStatus();
                           })
                  .ok());
  EXPECT_EQ(seen.size(), static_cast<size_t>(kKeys));
  // The callback's error ends the walk and comes back.
  int calls = 0;
  absl::Status s = client().ForEach("k/", [&](const ObjectEntry&) {
    return ++calls == 3 ? absl::CancelledError("enough") : absl::OkStatus();
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(calls, 3);
}

TEST_F(S3ClientTest, PrefixedAddressKeepsKeysUnderItsPrefix) {
  absl::StatusOr<S3Address> prefixed = S3Address::Parse(
      absl::StrCat("s3://", bucket().name(), "/stores/one?endpoint=", bucket().endpoint().endpoint,
                   "&region=default"));
  ASSERT_TRUE(prefixed.ok()) << prefixed.status();
  auto store = S3Client::Create(*prefixed, bucket().endpoint().credentials);
  ASSERT_TRUE(store.ok()) << store.status();
  ASSERT_TRUE((*store)->Put("blobs/b3/ab", "inside").ok());
  ASSERT_TRUE(client().Put("stores/oneother", "beside the prefix").ok());
  auto raw = client().Get("stores/one/blobs/b3/ab");
  ASSERT_TRUE(raw.ok() && raw->has_value());
  EXPECT_EQ((*raw)->data, "inside");
  absl::StatusOr<ListPage> page = (*store)->List("");
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->objects.size(), 1u);
  EXPECT_EQ(page->objects[0].key, "blobs/b3/ab");
}

TEST_F(S3ClientTest, MetadataAndLastModifiedComeBackFromGetHeadAndList) {
  const absl::Time before = absl::Now() - absl::Minutes(5);  // generous for clock skew
  absl::StatusOr<PutResult> put =
      client().Put("meta", "bytes", {.metadata = {{"castor-size", "5"}, {"other", "x y"}}});
  ASSERT_TRUE(put.ok()) << put.status();
  auto head = client().Head("meta");
  ASSERT_TRUE(head.ok() && head->has_value()) << head.status();
  EXPECT_EQ(MetadataValue((*head)->metadata, "castor-size"), "5");
  EXPECT_EQ(MetadataValue((*head)->metadata, "other"), "x y");
  EXPECT_EQ(MetadataValue((*head)->metadata, "absent"), std::nullopt);
  EXPECT_GT((*head)->last_modified, before);
  EXPECT_LT((*head)->last_modified, absl::Now() + absl::Minutes(5));
  auto got = client().Get("meta");
  ASSERT_TRUE(got.ok() && got->has_value()) << got.status();
  EXPECT_EQ(MetadataValue((*got)->metadata, "castor-size"), "5");
  EXPECT_EQ((*got)->last_modified, (*head)->last_modified);
  auto page = client().List("");
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->objects.size(), 1u);
  // The listing has milliseconds, the header whole seconds.
  EXPECT_LT(absl::AbsDuration(page->objects[0].last_modified - (*head)->last_modified),
            absl::Seconds(1));
}

TEST_F(S3ClientTest, TouchRenewsLastModifiedKeepsTheBytesAndReplacesMetadata) {
  ASSERT_TRUE(client().Put("old", "same bytes", {.metadata = {{"castor-size", "10"}}}).ok());
  auto first = client().Head("old");
  ASSERT_TRUE(first.ok() && first->has_value());
  absl::SleepFor(absl::Milliseconds(1100));  // Last-Modified has whole seconds
  auto touched = client().Touch("old", {{"castor-size", "10"}});
  ASSERT_TRUE(touched.ok()) << touched.status();
  ASSERT_TRUE(touched->has_value());
  EXPECT_GT((*touched)->last_modified, (*first)->last_modified);
  auto now = client().Get("old");
  ASSERT_TRUE(now.ok() && now->has_value());
  EXPECT_EQ((*now)->data, "same bytes");
  EXPECT_EQ((*now)->etag, (*first)->etag);
  EXPECT_GT((*now)->last_modified, (*first)->last_modified);
  EXPECT_EQ(MetadataValue((*now)->metadata, "castor-size"), "10");
  // A key with characters that need encoding in the copy source.
  ASSERT_TRUE(client().Put("a dir/%x+y", "z").ok());
  auto odd = client().Touch("a dir/%x+y", {});
  ASSERT_TRUE(odd.ok()) << odd.status();
  EXPECT_TRUE(odd->has_value());
  // Nothing to touch: nullopt, and nothing is created.
  auto absent = client().Touch("never", {});
  ASSERT_TRUE(absent.ok()) << absent.status();
  EXPECT_FALSE(absent->has_value());
  auto none = client().Head("never");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
}

// Ceph RGW refuses an existing key with If-None-Match: *.
TEST_F(S3ClientTest, IfAbsentCreatesOnceThenReportsPreconditionFailed) {
  absl::StatusOr<PutResult> first = client().Put("root", "v1", {.if_absent = true});
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(first->stored);
  absl::StatusOr<PutResult> second = client().Put("root", "v2", {.if_absent = true});
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_FALSE(second->stored);
  EXPECT_FALSE(second->ambiguous);
  auto got = client().Get("root");
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->data, "v1");
}

// RGW 16 matches If-Match against the bare ETag only; the client finds that
// out and swaps correctly either way.
TEST_F(S3ClientTest, IfMatchReplacesOnlyTheVersionItNames) {
  absl::StatusOr<PutResult> v1 = client().Put("root", "v1");
  ASSERT_TRUE(v1.ok());
  absl::StatusOr<PutResult> v2 = client().Put("root", "v2", {.if_match = v1->etag});
  ASSERT_TRUE(v2.ok()) << v2.status();
  EXPECT_TRUE(v2->stored);
  EXPECT_NE(v2->etag, v1->etag);
  absl::StatusOr<PutResult> stale = client().Put("root", "v3", {.if_match = v1->etag});
  ASSERT_TRUE(stale.ok()) << stale.status();
  EXPECT_FALSE(stale->stored);
  auto got = client().Get("root");
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->data, "v2");
  // A quoted ETag, as HTTP writes it, works the same.
  absl::StatusOr<PutResult> quoted =
      client().Put("root", "v4", {.if_match = absl::StrCat("\"", v2->etag, "\"")});
  ASSERT_TRUE(quoted.ok()) << quoted.status();
  EXPECT_TRUE(quoted->stored);
  absl::StatusOr<PutResult> absent = client().Put("no-root", "x", {.if_match = v1->etag});
  ASSERT_TRUE(absent.ok()) << absent.status();
  EXPECT_FALSE(absent->stored);
  auto none = client().Get("no-root");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  EXPECT_EQ(client().Put("root", "x", {.if_absent = true, .if_match = "e"}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(S3ClientTest, ConcurrentCreateOnlyPutsLetExactlyOneWin) {
  for (int round = 0; round < 3; ++round) {
    const std::string key = absl::StrCat("race/", round);
    std::atomic<int> won{0}, lost{0}, failed{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&, t] {
        absl::StatusOr<PutResult> r =
            client().Put(key, absl::StrCat("writer ", t), {.if_absent = true});
        if (!r.ok()) {
          ++failed;
        } else if (r->stored) {
          ++won;
        } else {
          ++lost;
        }
      });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(failed, 0);
    EXPECT_EQ(won, 1) << "round " << round;
    EXPECT_EQ(lost, 7);
  }
}

TEST_F(S3ClientTest, ConcurrentCompareAndSwapLosesNoUpdate) {
  ASSERT_TRUE(client().Put("counter", "0").ok());
  constexpr int kThreads = 4, kIncrements = 10;
  std::atomic<int> failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kIncrements; ++i) {
        for (int tries = 0;; ++tries) {
          auto got = client().Get("counter");
          if (!got.ok() || !got->has_value() || tries > 1000) {
            ++failed;
            return;
          }
          int value = std::stoi((*got)->data);
          absl::StatusOr<PutResult> put =
              client().Put("counter", std::to_string(value + 1), {.if_match = (*got)->etag});
          if (!put.ok()) {
            ++failed;
            return;
          }
          if (put->stored) break;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failed, 0);
  auto got = client().Get("counter");
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->data, std::to_string(kThreads * kIncrements));
}

TEST_F(S3ClientTest, BigPutIsAParallelMultipartUpload) {
  auto client = bucket().Client(
      {.multipart_threshold = 8 << 20, .part_size = 5 << 20, .multipart_concurrency = 3});
  ASSERT_TRUE(client.ok()) << client.status();
  const std::string data = RandomData(20 << 20, 2);
  absl::StatusOr<PutResult> put = (*client)->Put("big", data);
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_TRUE(put->stored);
  EXPECT_TRUE(put->etag.ends_with("-4")) << put->etag;  // S3's ETag of a 4-part upload
  auto got = (*client)->Get("big");
  ASSERT_TRUE(got.ok() && got->has_value()) << got.status();
  EXPECT_EQ((*got)->data.size(), data.size());
  EXPECT_TRUE((*got)->data == data);
  auto range = (*client)->GetRange("big", (5 << 20) - 10, 20);  // across a part boundary
  ASSERT_TRUE(range.ok() && range->has_value());
  EXPECT_EQ((*range)->data, data.substr((5 << 20) - 10, 20));
}

TEST_F(S3ClientTest, MultipartUploadStreamsPartsAndCompletes) {
  absl::StatusOr<std::unique_ptr<MultipartUpload>> upload = client().StartMultipart("streamed");
  ASSERT_TRUE(upload.ok()) << upload.status();
  std::string all;
  for (int i = 0; i < 3; ++i) {
    std::string part = RandomData(i < 2 ? 5 << 20 : 1000, 10 + i);
    all += part;
    ASSERT_TRUE((*upload)->AddPart(std::move(part)).ok());
  }
  absl::StatusOr<std::string> etag = (*upload)->Complete();
  ASSERT_TRUE(etag.ok()) << etag.status();
  auto got = client().Get("streamed");
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_TRUE((*got)->data == all);
  EXPECT_EQ((*got)->etag, *etag);
}

TEST_F(S3ClientTest, AbortedOrDroppedMultipartUploadLeavesNoObject) {
  {
    absl::StatusOr<std::unique_ptr<MultipartUpload>> upload = client().StartMultipart("aborted");
    ASSERT_TRUE(upload.ok()) << upload.status();
    ASSERT_TRUE((*upload)->AddPart(RandomData(5 << 20, 3)).ok());
    EXPECT_TRUE((*upload)->Abort().ok());
    EXPECT_FALSE((*upload)->Complete().ok());
  }
  {
    absl::StatusOr<std::unique_ptr<MultipartUpload>> upload = client().StartMultipart("dropped");
    ASSERT_TRUE(upload.ok());
    ASSERT_TRUE((*upload)->AddPart(RandomData(5 << 20, 4)).ok());
  }  // destroyed without Complete: aborted
  for (const char* key : {"aborted", "dropped"}) {
    auto got = client().Get(key);
    ASSERT_TRUE(got.ok());
    EXPECT_FALSE(got->has_value()) << key;
  }
}

TEST_F(S3ClientTest, MultipartUploadWithATooSmallPartFailsAndAborts) {
  absl::StatusOr<std::unique_ptr<MultipartUpload>> upload = client().StartMultipart("small");
  ASSERT_TRUE(upload.ok());
  ASSERT_TRUE((*upload)->AddPart(std::string(1000, 'a')).ok());
  ASSERT_TRUE((*upload)->AddPart(std::string(1000, 'b')).ok());
  absl::StatusOr<std::string> etag = (*upload)->Complete();
  EXPECT_EQ(etag.status().code(), absl::StatusCode::kInvalidArgument) << etag.status();
  EXPECT_THAT(etag.status().message(), HasSubstr("EntityTooSmall"));
  auto got = client().Get("small");
  ASSERT_TRUE(got.ok());
  EXPECT_FALSE(got->has_value());
}

TEST_F(S3ClientTest, ConcurrentRequestsFromManyThreadsReuseConnections) {
  auto client = bucket().Client({.max_connections = 8});
  ASSERT_TRUE(client.ok());
  constexpr int kThreads = 16, kOps = 40;
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kOps; ++i) {
        const std::string key = absl::StrCat("t", t, "/", i);
        const std::string value = RandomData(4096, t * 1000 + i);
        if (!(*client)->Put(key, value).ok()) {
          ++wrong;
          continue;
        }
        auto got = (*client)->Get(key);
        if (!got.ok() || !got->has_value() || (*got)->data != value) ++wrong;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong, 0);
  S3ClientStats stats = (*client)->stats();
  EXPECT_EQ(stats.requests, 2u * kThreads * kOps);
  EXPECT_EQ(stats.retries, 0u);
  // At most 8 requests in flight, each connection kept alive for the next.
  EXPECT_LE(stats.connections, 8u);
}

TEST_F(S3ClientTest, UnsignedPayloadIsAccepted) {
  auto client = bucket().Client({.unsigned_payload = true});
  ASSERT_TRUE(client.ok());
  ASSERT_TRUE((*client)->Put("unsigned", "body").ok());
  auto got = (*client)->Get("unsigned");
  ASSERT_TRUE(got.ok() && got->has_value()) << got.status();
  EXPECT_EQ((*got)->data, "body");
}

TEST_F(S3ClientTest, WrongSecretIsPermissionDeniedNamingTheEndpoint) {
  absl::StatusOr<S3Address> address = S3Address::Parse(bucket().address());
  ASSERT_TRUE(address.ok());
  Credentials wrong = bucket().endpoint().credentials;
  wrong.secret_access_key = "not-the-secret";
  wrong.source = "the test";
  auto bad = S3Client::Create(*address, wrong);
  ASSERT_TRUE(bad.ok());
  auto got = (*bad)->Get("x");
  EXPECT_EQ(got.status().code(), absl::StatusCode::kPermissionDenied) << got.status();
  EXPECT_THAT(got.status().message(), HasSubstr("SignatureDoesNotMatch"));
  EXPECT_THAT(got.status().message(), HasSubstr(bucket().endpoint().endpoint));
  EXPECT_THAT(got.status().message(), HasSubstr("credentials from the test"));
  EXPECT_EQ((*bad)->stats().retries, 0u);  // 4xx is final
  wrong.access_key_id = "NOSUCHKEY";
  auto unknown = S3Client::Create(*address, wrong);
  ASSERT_TRUE(unknown.ok());
  absl::Status s = (*unknown)->Put("x", "y").status();
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << s;
  EXPECT_THAT(s.message(), HasSubstr("InvalidAccessKeyId"));
}

TEST_F(S3ClientTest, MissingBucketIsNotFoundNamingIt) {
  absl::StatusOr<S3Address> address = S3Address::Parse(absl::StrCat(
      "s3://no-such-bucket-here?endpoint=", bucket().endpoint().endpoint, "&region=default"));
  ASSERT_TRUE(address.ok());
  auto missing = S3Client::Create(*address, bucket().endpoint().credentials);
  ASSERT_TRUE(missing.ok());
  absl::Status check = (*missing)->CheckBucket();
  EXPECT_EQ(check.code(), absl::StatusCode::kNotFound) << check;
  EXPECT_THAT(check.message(), HasSubstr("bucket \"no-such-bucket-here\" does not exist"));
  EXPECT_EQ((*missing)->Get("k").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ((*missing)->Put("k", "v").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ((*missing)->List("").status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(client().CheckBucket().ok());
}

TEST_F(S3ClientTest, OpenTakesTheAddressAndCredentialsFromTheEnvironment) {
  // Each test runs in its own process under ctest; the variables go with it.
  ::setenv("AWS_ACCESS_KEY_ID", bucket().endpoint().credentials.access_key_id.c_str(), 1);
  ::setenv("AWS_SECRET_ACCESS_KEY", bucket().endpoint().credentials.secret_access_key.c_str(), 1);
  auto opened = S3Client::Open(bucket().address());
  ::unsetenv("AWS_ACCESS_KEY_ID");
  ::unsetenv("AWS_SECRET_ACCESS_KEY");
  ASSERT_TRUE(opened.ok()) << opened.status();
  ASSERT_TRUE((*opened)->Put("via-open", "x").ok());
  auto got = client().Get("via-open");
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->data, "x");
  EXPECT_EQ(S3Client::Open("s3://bkt?bogus=1").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(S3ClientTest, EmptyKeysAreRejected) {
  EXPECT_EQ(client().Get("").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(client().Put("", "x").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(client().Delete("").code(), absl::StatusCode::kInvalidArgument);
}

// Nothing listens there: every attempt is refused at once.
TEST(S3ClientFaultTest, UnreachableEndpointIsUnavailableNamingIt) {
  absl::StatusOr<S3Address> address =
      S3Address::Parse("s3://bkt?endpoint=http://127.0.0.1:9&region=default");
  ASSERT_TRUE(address.ok());
  auto client = S3Client::Create(*address, {.access_key_id = "k", .secret_access_key = "s"},
                                 {.max_attempts = 3, .backoff_base = absl::Milliseconds(10)});
  ASSERT_TRUE(client.ok());
  auto got = (*client)->Get("k");
  EXPECT_EQ(got.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(got.status().message(), HasSubstr("s3://bkt: cannot connect to http://127.0.0.1:9"));
  EXPECT_THAT(got.status().message(), HasSubstr("attempt 3 of 3"));
  EXPECT_EQ((*client)->stats().retries, 2u);
}

// Private clusters: these tests stop and pause radosgw.
TEST(S3ClientFaultTest, StoppedRgwIsUnavailableAndARestartedOneServesAgain) {
  absl::StatusOr<std::unique_ptr<testing::CephCluster>> cluster = testing::CephCluster::Start();
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  auto bucket = testing::TestBucket::Create((*cluster)->endpoint());
  ASSERT_TRUE(bucket.ok()) << bucket.status();
  auto client = (*bucket)->Client({.max_attempts = 3, .backoff_base = absl::Milliseconds(50)});
  ASSERT_TRUE(client.ok());
  ASSERT_TRUE((*client)->Put("k", "before").ok());

  ASSERT_TRUE((*cluster)->StopRgw().ok());
  absl::Time start = absl::Now();
  auto down = (*client)->Get("k");
  EXPECT_EQ(down.status().code(), absl::StatusCode::kUnavailable) << down.status();
  EXPECT_THAT(down.status().message(), HasSubstr((*cluster)->endpoint().endpoint));
  EXPECT_LT(absl::Now() - start, absl::Seconds(30));  // no hang

  ASSERT_TRUE((*cluster)->StartRgw().ok());
  // The same client, whose kept-alive connections died with the old radosgw.
  auto up = (*client)->Get("k");
  ASSERT_TRUE(up.ok()) << up.status();
  ASSERT_TRUE(up->has_value());
  EXPECT_EQ((*up)->data, "before");
  EXPECT_TRUE((*client)->Put("k2", "after").ok());
}

TEST(S3ClientFaultTest, SilentRgwTimesOutInsteadOfHanging) {
  absl::StatusOr<std::unique_ptr<testing::CephCluster>> cluster = testing::CephCluster::Start();
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  auto bucket = testing::TestBucket::Create((*cluster)->endpoint());
  ASSERT_TRUE(bucket.ok()) << bucket.status();
  auto client = (*bucket)->Client({.idle_timeout = absl::Seconds(2),
                                   .max_attempts = 2,
                                   .backoff_base = absl::Milliseconds(50)});
  ASSERT_TRUE(client.ok());
  ASSERT_TRUE((*client)->Put("k", "v").ok());

  ASSERT_TRUE((*cluster)->PauseRgw().ok());
  absl::Time start = absl::Now();
  auto silent = (*client)->Get("k");
  absl::Duration took = absl::Now() - start;
  ASSERT_TRUE((*cluster)->ResumeRgw().ok());
  EXPECT_EQ(silent.status().code(), absl::StatusCode::kUnavailable) << silent.status();
  EXPECT_THAT(silent.status().message(), HasSubstr("no answer from"));
  EXPECT_LT(took, absl::Seconds(30));  // 2 attempts of 2 s idle each, generously

  auto back = (*client)->Get("k");
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_TRUE(back->has_value());
  EXPECT_EQ((*back)->data, "v");
}

TEST(S3ClientFaultTest, RetryBudgetEndsRetriesAgainstASilentRgw) {
  absl::StatusOr<std::unique_ptr<testing::CephCluster>> cluster = testing::CephCluster::Start();
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  auto bucket = testing::TestBucket::Create((*cluster)->endpoint());
  ASSERT_TRUE(bucket.ok()) << bucket.status();
  // Without the budget this would take 100 attempts of a second each.
  auto client = (*bucket)->Client({.idle_timeout = absl::Seconds(1),
                                   .max_attempts = 100,
                                   .backoff_base = absl::Milliseconds(50),
                                   .retry_budget = absl::Seconds(3)});
  ASSERT_TRUE(client.ok());
  ASSERT_TRUE((*client)->Put("k", "v").ok());
  ASSERT_TRUE((*cluster)->PauseRgw().ok());
  absl::Time start = absl::Now();
  auto silent = (*client)->Get("k");
  absl::Duration took = absl::Now() - start;
  ASSERT_TRUE((*cluster)->ResumeRgw().ok());
  EXPECT_EQ(silent.status().code(), absl::StatusCode::kUnavailable) << silent.status();
  EXPECT_LT(took, absl::Seconds(20));  // budget 3 s + one idle timeout, generously
  EXPECT_LT((*client)->stats().requests, 20u);
}

}  // namespace
}  // namespace castor::s3
