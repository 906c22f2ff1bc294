#include "castore/directory/lmdb_directory_service.h"

#include <gtest/gtest.h>

#include <string>

#include "castore/testing/temp_dir.h"

namespace castor::castore {
namespace {

// Writes `value` under `key` in the named database with raw LMDB calls.
void RawPut(LmdbEnv& env, const char* db, std::string_view key, std::string_view value) {
  MDB_txn* txn = nullptr;
  ASSERT_EQ(mdb_txn_begin(env.env(), nullptr, 0, &txn), 0);
  MDB_dbi dbi;
  ASSERT_EQ(mdb_dbi_open(txn, db, MDB_CREATE, &dbi), 0);
  MDB_val k = ToVal(key), v = ToVal(value);
  ASSERT_EQ(mdb_put(txn, dbi, &k, &v, 0), 0);
  ASSERT_EQ(mdb_txn_commit(txn), 0);
}

Directory WithChild(const Directory& child) {
  return *Directory::Create(
      {{*PathComponent::Create("child"), DirectoryNode{child.digest(), child.size()}}});
}

class LmdbDirectoryServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto env = LmdbEnv::Open(dir_.path() + "/meta");
    ASSERT_TRUE(env.ok()) << env.status();
    env_ = *env;
    auto s = LmdbDirectoryService::Open(env_);
    ASSERT_TRUE(s.ok()) << s.status();
    service_ = *s;
  }
  testing::TempDir dir_{"lmdb-dirs"};
  std::shared_ptr<LmdbEnv> env_;
  std::shared_ptr<LmdbDirectoryService> service_;
};

TEST_F(LmdbDirectoryServiceTest, GarbageValueIsDataLossNamingTheKey) {
  B3Digest key = B3Digest::Of(std::string_view("some key"));
  RawPut(*env_, "directories", key.raw(), "\xff\xff\xff garbage");
  auto got = service_->Get(key);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kDataLoss) << got.status();
  EXPECT_NE(got.status().message().find(key.ToB3()), std::string::npos) << got.status();

  absl::Status walk =
      service_->GetRecursive(key, [](const Directory&) { return absl::OkStatus(); });
  EXPECT_EQ(walk.code(), absl::StatusCode::kDataLoss) << walk;
}

TEST_F(LmdbDirectoryServiceTest, ValueOfAnotherDirectoryIsDataLoss) {
  Directory empty;
  Directory parent = WithChild(empty);
  B3Digest key = B3Digest::Of(std::string_view("wrong key"));
  RawPut(*env_, "directories", key.raw(), parent.Encode());
  auto got = service_->Get(key);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kDataLoss) << got.status();
  EXPECT_NE(got.status().message().find(key.ToB3()), std::string::npos) << got.status();
}

TEST_F(LmdbDirectoryServiceTest, CorruptChildFailsAPutWithDataLoss) {
  Directory empty;
  RawPut(*env_, "directories", empty.digest().raw(), "\x0a\x01");  // truncated
  auto put = service_->Put(WithChild(empty));
  EXPECT_EQ(put.status().code(), absl::StatusCode::kDataLoss) << put.status();
}

TEST_F(LmdbDirectoryServiceTest, CorruptDescendantFailsGetRecursiveWithDataLoss) {
  Directory empty;
  Directory parent = WithChild(empty);
  ASSERT_TRUE(service_->Put(empty).ok());
  ASSERT_TRUE(service_->Put(parent).ok());
  RawPut(*env_, "directories", empty.digest().raw(), "junk");
  int calls = 0;
  absl::Status walk = service_->GetRecursive(parent.digest(), [&](const Directory&) {
    ++calls;
    return absl::OkStatus();
  });
  EXPECT_EQ(walk.code(), absl::StatusCode::kDataLoss) << walk;
  EXPECT_EQ(calls, 1);
}

TEST_F(LmdbDirectoryServiceTest, PuttingAgainRepairsACorruptValue) {
  Directory parent = WithChild(Directory());
  ASSERT_TRUE(service_->Put(Directory()).ok());
  RawPut(*env_, "directories", parent.digest().raw(), "junk");
  ASSERT_FALSE(service_->Get(parent.digest()).ok());
  ASSERT_TRUE(service_->Put(parent).ok());
  auto got = service_->Get(parent.digest());
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(got->has_value());
}

TEST_F(LmdbDirectoryServiceTest, KeyOfTheWrongLengthIsDataLossInForEach) {
  RawPut(*env_, "directories", "short", "");
  absl::Status s = service_->ForEach([](const B3Digest&) { return absl::OkStatus(); });
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_NE(s.message().find("73686f7274"), std::string::npos) << s;  // hex of "short"
}

TEST_F(LmdbDirectoryServiceTest, ForEachCoversMoreThanOneBatch) {
  // 5000 distinct directories, leaves only (a file each), in one putter.
  auto putter = service_->OpenPutter();
  ASSERT_TRUE(putter.ok());
  for (int i = 0; i < 5000; ++i) {
    std::string name = "f" + std::to_string(i);
    auto d = Directory::Create({{*PathComponent::Create(name), FileNode{EmptyDigest(), 0, false}}});
    ASSERT_TRUE((*putter)->Put(*d).ok());
  }
  ASSERT_TRUE((*putter)->Close().ok());
  int count = 0;
  B3Digest last;
  bool first = true;
  ASSERT_TRUE(service_
                  ->ForEach([&](const B3Digest& d) {
                    EXPECT_TRUE(first || last < d);
                    first = false;
                    last = d;
                    ++count;
                    return absl::OkStatus();
                  })
                  .ok());
  EXPECT_EQ(count, 5000);
}

}  // namespace
}  // namespace castor::castore
