// Test support for code that talks to S3: real Ceph clusters with radosgw
// (scripts/ceph-rgw.sh), and a fresh bucket per test.
//
// - SharedS3Endpoint(): the cluster this test process shares with others.
//   Under ctest it is the one the `s3_cluster` fixture started (every S3
//   test requires that fixture); a test binary run by hand starts a private
//   one on first use. Either way its processes die with their owner.
// - CephCluster::Start(): a private cluster, for tests that stop, pause or
//   restart radosgw (never do that to the shared one).
// - TestBucket / S3BucketTest: a uniquely named bucket, emptied and deleted
//   afterwards, and a client for it.
//
// For tests only. CephCluster and TestBucket are thread-compatible;
// SharedS3Endpoint is thread-safe.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "s3/credentials.h"
#include "s3/s3_client.h"

namespace castor::s3::testing {

struct S3Endpoint {
  std::string endpoint;  // http://127.0.0.1:PORT
  Credentials credentials;
  std::string region = "default";
};

class CephCluster {
 public:
  // Starts a cluster in a fresh directory (about 2 s, ~140 MB of RAM). It is
  // stopped and removed when the object goes, or within a second after this
  // process dies, however it dies.
  static absl::StatusOr<std::unique_ptr<CephCluster>> Start();
  ~CephCluster();
  CephCluster(const CephCluster&) = delete;
  CephCluster& operator=(const CephCluster&) = delete;

  const S3Endpoint& endpoint() const { return endpoint_; }
  const std::string& dir() const { return dir_; }

  // Kills radosgw (connections are refused from then on) / starts it again
  // on the same port and waits until it answers.
  absl::Status StopRgw();
  absl::Status StartRgw();
  // SIGSTOP / SIGCONT radosgw: connections are accepted, nothing answers.
  absl::Status PauseRgw();
  absl::Status ResumeRgw();

 private:
  CephCluster(std::string dir, S3Endpoint endpoint)
      : dir_(std::move(dir)), endpoint_(std::move(endpoint)) {}
  absl::Status SignalRgw(int sig);

  std::string dir_;
  S3Endpoint endpoint_;
};

// Runs scripts/ceph-rgw.sh with `args`; its output in the error.
absl::Status RunClusterScript(const std::vector<std::string>& args);

// Reads DIR/s3.env as written by scripts/ceph-rgw.sh.
absl::StatusOr<S3Endpoint> ReadS3Env(const std::string& path);

// See the top of this file.
absl::StatusOr<S3Endpoint> SharedS3Endpoint();

class TestBucket {
 public:
  // Creates a bucket with a unique name on `endpoint`; the store's address
  // gets `prefix` (may be empty).
  static absl::StatusOr<std::unique_ptr<TestBucket>> Create(const S3Endpoint& endpoint,
                                                            std::string_view prefix = "");
  // Deletes every object and the bucket (failures are logged, not fatal).
  ~TestBucket();
  TestBucket(const TestBucket&) = delete;
  TestBucket& operator=(const TestBucket&) = delete;

  const std::string& name() const { return name_; }
  // s3://NAME[/PREFIX]?endpoint=...&region=default
  std::string address() const;
  const S3Endpoint& endpoint() const { return endpoint_; }

  // A client for the address.
  absl::StatusOr<std::unique_ptr<S3Client>> Client(S3ClientOptions options = {}) const;

 private:
  TestBucket(S3Endpoint endpoint, std::string name, std::string prefix)
      : endpoint_(std::move(endpoint)), name_(std::move(name)), prefix_(std::move(prefix)) {}

  S3Endpoint endpoint_;
  std::string name_;
  std::string prefix_;
};

// A gtest fixture: a fresh bucket on the shared cluster for every test, and
// a client for it with default options.
class S3BucketTest : public ::testing::Test {
 protected:
  void SetUp() override;

  TestBucket& bucket() { return *bucket_; }
  S3Client& client() { return *client_; }

  std::unique_ptr<TestBucket> bucket_;
  std::unique_ptr<S3Client> client_;
};

}  // namespace castor::s3::testing
