// The fault injector's schedule and what each fault does to each service.
#include "castore/testing/faulty_services.h"

#include <chrono>

#include "castore/blob/memory_blob_service.h"
#include "castore/directory/memory_directory_service.h"
#include "castore/roots/memory_root_service.h"
#include "gtest/gtest.h"

namespace castor::castore::testing {
namespace {

TEST(FaultInjector, EveryNthCallUntilTimesRunOut) {
  FaultInjector f;
  f.Set({.kind = FaultKind::kUnavailable, .every = 3, .times = 2});
  std::vector<int> hit;
  for (int i = 1; i <= 12; ++i) {
    if (f.Next() != FaultKind::kNone) hit.push_back(i);
  }
  EXPECT_EQ(hit, (std::vector<int>{3, 6}));
  EXPECT_EQ(f.injected(), 2u);
  f.Clear();
  EXPECT_EQ(f.Next(), FaultKind::kNone);
}

TEST(FaultInjector, StallSleepsThenProceeds) {
  FaultInjector f;
  f.Set({.kind = FaultKind::kStall, .stall = absl::Milliseconds(30)});
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(f.Next(), FaultKind::kStall);
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(30));
}

class FaultyServicesTest : public ::testing::Test {
 protected:
  std::shared_ptr<FaultInjector> faults_ = std::make_shared<FaultInjector>();
  std::shared_ptr<BlobService> inner_blobs_ = std::make_shared<MemoryBlobService>();
  std::shared_ptr<BlobService> blobs_ = FaultyBlobService(inner_blobs_, faults_);
};

TEST_F(FaultyServicesTest, BlobReadsFailTruncateAndCorrupt) {
  auto digest = PutBlob(*inner_blobs_, "abcdefgh");
  ASSERT_TRUE(digest.ok());
  auto reader = blobs_->OpenRead(*digest);
  ASSERT_TRUE(reader.ok() && *reader != nullptr);
  uint8_t buf[8];

  faults_->Set({.kind = FaultKind::kUnavailable});
  auto n = (*reader)->ReadAt(0, buf);
  EXPECT_EQ(n.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(blobs_->OpenRead(*digest).status().code(), absl::StatusCode::kUnavailable);

  faults_->Set({.kind = FaultKind::kTruncate});
  n = (*reader)->ReadAt(0, buf);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 4u);
  EXPECT_EQ(*(*reader)->ReadAt(4, buf), 0u);

  faults_->Set({.kind = FaultKind::kCorrupt});
  n = (*reader)->ReadAt(0, buf);
  ASSERT_TRUE(n.ok());
  ASSERT_EQ(*n, 8u);
  EXPECT_NE(std::string(reinterpret_cast<char*>(buf), 8), "abcdefgh");

  faults_->Clear();
  ASSERT_EQ(*(*reader)->ReadAt(0, buf), 8u);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(buf), 8), "abcdefgh");
}

TEST_F(FaultyServicesTest, BlobWritesFailOnlyWhenUnavailable) {
  faults_->Set({.kind = FaultKind::kCorrupt});
  EXPECT_TRUE(PutBlob(*blobs_, "x").ok());
  faults_->Set({.kind = FaultKind::kUnavailable, .every = 2});
  // OpenWrite passes (call 1), Write fails (call 2).
  auto w = blobs_->OpenWrite();
  ASSERT_TRUE(w.ok());
  EXPECT_EQ((*w)->Write("data").code(), absl::StatusCode::kUnavailable);
}

TEST_F(FaultyServicesTest, DirectoriesAnswerAnotherDirectoryWhenDamaged) {
  auto inner = std::make_shared<MemoryDirectoryService>();
  auto dirs = FaultyDirectoryService(inner, faults_);
  auto d = Directory::Create(
      {Entry{*PathComponent::Create("a"), FileNode{B3Digest::Of(std::string_view("a")), 1, false}},
       Entry{*PathComponent::Create("b"),
             FileNode{B3Digest::Of(std::string_view("b")), 1, false}}});
  ASSERT_TRUE(d.ok());
  ASSERT_TRUE(inner->Put(*d).ok());
  for (FaultKind kind : {FaultKind::kTruncate, FaultKind::kCorrupt}) {
    faults_->Set({.kind = kind});
    auto got = dirs->Get(d->digest());
    ASSERT_TRUE(got.ok() && got->has_value());
    EXPECT_NE((*got)->digest(), d->digest());
  }
  faults_->Set({.kind = FaultKind::kUnavailable});
  EXPECT_EQ(dirs->Get(d->digest()).status().code(), absl::StatusCode::kUnavailable);
  faults_->Clear();
  auto got = dirs->Get(d->digest());
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->digest(), d->digest());
}

TEST_F(FaultyServicesTest, RootsFailWithUnavailableOrDataLoss) {
  auto roots = FaultyRootService(std::make_shared<MemoryRootService>(), faults_);
  auto name = *PathComponent::Create("r");
  ASSERT_TRUE(
      roots->Put(Entry{name, FileNode{B3Digest::Of(std::string_view("r")), 1, false}}).ok());
  faults_->Set({.kind = FaultKind::kCorrupt});
  EXPECT_EQ(roots->Get(name).status().code(), absl::StatusCode::kDataLoss);
  faults_->Set({.kind = FaultKind::kUnavailable});
  EXPECT_EQ(roots->Get(name).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(roots->Remove(name).status().code(), absl::StatusCode::kUnavailable);
  faults_->Clear();
  auto got = roots->Get(name);
  ASSERT_TRUE(got.ok() && got->has_value());
}

}  // namespace
}  // namespace castor::castore::testing
