#include "s3/testing/ceph_cluster.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status.h"
#include "castore/testing/subprocess.h"
#include "castore/testing/temp_dir.h"

namespace castor::s3::testing {
namespace {

std::string ScriptPath() {
  const char* env = std::getenv("CASTOR_CEPH_RGW_SCRIPT");
  return env != nullptr && *env != '\0' ? env : CASTOR_CEPH_RGW_SCRIPT;
}

// A fresh empty directory for a cluster (the script wipes and fills it).
std::string FreshDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/castor-ceph-XXXXXX";
  CASTOR_CHECK(::mkdtemp(tmpl.data()) != nullptr);
  return tmpl;
}

// Whether an RGW answers at `endpoint` (any S3 answer will do).
bool Answers(const S3Endpoint& endpoint) {
  absl::StatusOr<S3Address> address =
      S3Address::Parse(absl::StrCat("s3://castor-probe?endpoint=", endpoint.endpoint));
  if (!address.ok()) return false;
  auto client = S3Client::Create(
      *address, endpoint.credentials,
      {.connect_timeout = absl::Seconds(2), .idle_timeout = absl::Seconds(5), .max_attempts = 2});
  if (!client.ok()) return false;
  absl::Status s = (*client)->CheckBucket();
  return s.ok() || s.code() == absl::StatusCode::kNotFound;
}

}  // namespace

absl::Status RunClusterScript(const std::vector<std::string>& args) {
  castore::testing::TempDir scratch("ceph-run");
  std::vector<std::string> argv = {ScriptPath()};
  argv.insert(argv.end(), args.begin(), args.end());
  castore::testing::RunResult r =
      castore::testing::Run(argv, scratch.path() + "/script", std::chrono::seconds(180));
  if (r.code != 0) {
    return absl::UnavailableError(
        absl::StrCat(absl::StrJoin(argv, " "), " failed (exit ", r.code, "): ", r.err, r.out));
  }
  return absl::OkStatus();
}

absl::StatusOr<S3Endpoint> ReadS3Env(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("no ", path));
  S3Endpoint e;
  std::string line;
  while (std::getline(in, line)) {
    size_t eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string key = line.substr(0, eq), value = line.substr(eq + 1);
    if (key == "S3_ENDPOINT") e.endpoint = value;
    if (key == "S3_ACCESS_KEY") e.credentials.access_key_id = value;
    if (key == "S3_SECRET_KEY") e.credentials.secret_access_key = value;
    if (key == "S3_REGION") e.region = value;
  }
  if (e.endpoint.empty() || e.credentials.access_key_id.empty() ||
      e.credentials.secret_access_key.empty()) {
    return absl::DataLossError(absl::StrCat(path, " lacks S3_ENDPOINT or keys"));
  }
  e.credentials.source = path;
  return e;
}

absl::StatusOr<std::unique_ptr<CephCluster>> CephCluster::Start() {
  const std::string dir = FreshDir();
  RETURN_IF_ERROR(RunClusterScript({"start", dir, "0", "--watch", std::to_string(::getpid())}));
  absl::StatusOr<S3Endpoint> endpoint = ReadS3Env(dir + "/s3.env");
  if (!endpoint.ok()) {
    RunClusterScript({"stop", dir}).IgnoreError();
    return endpoint.status();
  }
  return std::unique_ptr<CephCluster>(new CephCluster(dir, *std::move(endpoint)));
}

CephCluster::~CephCluster() {
  absl::Status s = RunClusterScript({"stop", dir_});
  if (!s.ok()) spdlog::warn("{}", ToStdView(s.message()));
}

absl::Status CephCluster::StopRgw() { return RunClusterScript({"rgw-stop", dir_}); }
absl::Status CephCluster::StartRgw() { return RunClusterScript({"rgw-start", dir_}); }
absl::Status CephCluster::PauseRgw() { return SignalRgw(SIGSTOP); }
absl::Status CephCluster::ResumeRgw() { return SignalRgw(SIGCONT); }

absl::Status CephCluster::SignalRgw(int sig) {
  std::ifstream in(dir_ + "/pids/3-rgw.pid");
  pid_t pid = 0;
  if (!(in >> pid) || pid <= 0 || ::kill(pid, sig) != 0) {
    return absl::FailedPreconditionError(absl::StrCat("radosgw of ", dir_, " is not running"));
  }
  return absl::OkStatus();
}

absl::StatusOr<S3Endpoint> SharedS3Endpoint() {
  static std::mutex mu;
  static std::unique_ptr<CephCluster> own;  // lives until exit
  static std::optional<S3Endpoint> shared;
  std::lock_guard<std::mutex> lock(mu);
  if (shared) return *shared;
  const char* fixture_env = std::getenv("CASTOR_S3_FIXTURE_DIR");
  const std::string fixture =
      fixture_env != nullptr && *fixture_env != '\0' ? fixture_env : CASTOR_S3_FIXTURE_DIR;
  if (absl::StatusOr<S3Endpoint> e = ReadS3Env(fixture + "/s3.env"); e.ok() && Answers(*e)) {
    shared = *e;
    return *shared;
  }
  ASSIGN_OR_RETURN(own, CephCluster::Start());
  shared = own->endpoint();
  return *shared;
}

absl::StatusOr<std::unique_ptr<TestBucket>> TestBucket::Create(const S3Endpoint& endpoint,
                                                               std::string_view prefix) {
  static std::atomic<int> counter{0};
  thread_local std::mt19937 rng{std::random_device{}()};
  std::string name = absl::StrCat("castor-test-", ::getpid(), "-", counter++, "-", rng() % 100000);
  std::unique_ptr<TestBucket> bucket(new TestBucket(endpoint, name, std::string(prefix)));
  ASSIGN_OR_RETURN(std::unique_ptr<S3Client> client, bucket->Client());
  RETURN_IF_ERROR(client->CreateBucket());
  return bucket;
}

std::string TestBucket::address() const {
  return absl::StrCat("s3://", name_, prefix_.empty() ? "" : "/", prefix_,
                      "?endpoint=", endpoint_.endpoint, "&region=", endpoint_.region);
}

absl::StatusOr<std::unique_ptr<S3Client>> TestBucket::Client(S3ClientOptions options) const {
  ASSIGN_OR_RETURN(S3Address parsed, S3Address::Parse(address()));
  return S3Client::Create(std::move(parsed), endpoint_.credentials, options);
}

TestBucket::~TestBucket() {
  // The whole bucket, not only the prefix.
  absl::StatusOr<S3Address> root = S3Address::Parse(
      absl::StrCat("s3://", name_, "?endpoint=", endpoint_.endpoint, "&region=", endpoint_.region));
  if (!root.ok()) return;
  auto client = S3Client::Create(*root, endpoint_.credentials, {.max_attempts = 2});
  if (!client.ok()) return;
  std::vector<std::string> keys;
  absl::Status s = (*client)->ForEach("", [&](const ObjectEntry& e) {
    keys.push_back(e.key);
    return absl::OkStatus();
  });
  // Deleted from a few threads: some tests leave thousands of keys.
  std::atomic<size_t> next{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (size_t i; (i = next++) < keys.size();) (*client)->Delete(keys[i]).IgnoreError();
    });
  }
  for (std::thread& t : threads) t.join();
  if (s.ok()) s = (*client)->DeleteBucket();
  if (!s.ok()) spdlog::warn("removing test bucket {}: {}", name_, ToStdView(s.message()));
}

void S3BucketTest::SetUp() {
  absl::StatusOr<S3Endpoint> endpoint = SharedS3Endpoint();
  ASSERT_TRUE(endpoint.ok()) << endpoint.status();
  absl::StatusOr<std::unique_ptr<TestBucket>> bucket = TestBucket::Create(*endpoint);
  ASSERT_TRUE(bucket.ok()) << bucket.status();
  bucket_ = *std::move(bucket);
  absl::StatusOr<std::unique_ptr<S3Client>> client = bucket_->Client();
  ASSERT_TRUE(client.ok()) << client.status();
  client_ = *std::move(client);
}

}  // namespace castor::s3::testing
