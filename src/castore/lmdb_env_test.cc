#include "castore/lmdb_env.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "castore/blob/blob_service.h"
#include "castore/directory/lmdb_directory_service.h"
#include "castore/roots/lmdb_root_service.h"
#include "castore/testing/temp_dir.h"

namespace castor::castore {
namespace {

TEST(LmdbEnv, OnePathSharesOneEnvironmentHoweverSpelled) {
  testing::TempDir dir("lmdb-env");
  auto a = LmdbEnv::Open(dir.path() + "/meta");
  ASSERT_TRUE(a.ok()) << a.status();
  auto b = LmdbEnv::Open(dir.path() + "/meta/");
  auto c = LmdbEnv::Open(dir.path() + "/./meta");
  ASSERT_TRUE(b.ok() && c.ok());
  EXPECT_EQ(a->get(), b->get());
  EXPECT_EQ(a->get(), c->get());
  auto other = LmdbEnv::Open(dir.path() + "/other");
  ASSERT_TRUE(other.ok());
  EXPECT_NE(a->get(), other->get());
}

TEST(LmdbEnv, ClosesWhenUnusedAndReopensWithTheData) {
  testing::TempDir dir("lmdb-reopen");
  std::string path = dir.path() + "/meta";
  Directory empty;
  {
    auto dirs = LmdbDirectoryService::Open(path);
    ASSERT_TRUE(dirs.ok()) << dirs.status();
    ASSERT_TRUE((*dirs)->Put(empty).ok());
  }
  // Nothing holds the environment now; opening again is a fresh one.
  auto dirs = LmdbDirectoryService::Open(path);
  ASSERT_TRUE(dirs.ok()) << dirs.status();
  auto got = (*dirs)->Get(empty.digest());
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(got->has_value());
}

TEST(LmdbEnv, ConcurrentOpenAndReleaseOfOnePath) {
  testing::TempDir dir("lmdb-churn");
  std::string path = dir.path() + "/meta";
  std::vector<std::thread> threads;
  std::vector<absl::Status> results(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 15; ++i) {
        auto roots = LmdbRootService::Open(path);
        if (!roots.ok()) {
          results[t] = roots.status();
          return;
        }
        auto name = *PathComponent::Create("r" + std::to_string(t));
        absl::Status s = (*roots)->Put(Entry{name, FileNode{EmptyDigest(), 0, false}});
        if (!s.ok()) {
          results[t] = s;
          return;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& s : results) EXPECT_TRUE(s.ok()) << s;
}

TEST(LmdbEnv, UsesTheBigSparseMap) {
  testing::TempDir dir("lmdb-map");
  auto env = LmdbEnv::Open(dir.path() + "/meta");
  ASSERT_TRUE(env.ok());
  MDB_envinfo info;
  ASSERT_EQ(mdb_env_info((*env)->env(), &info), 0);
  EXPECT_EQ(info.me_mapsize, LmdbEnv::kMapSize);
  unsigned flags = 0;
  ASSERT_EQ(mdb_env_get_flags((*env)->env(), &flags), 0);
  EXPECT_TRUE(flags & MDB_NOTLS);
  // Sparse: the file is far smaller than the map.
  struct stat st;
  ASSERT_EQ(::stat((dir.path() + "/meta/data.mdb").c_str(), &st), 0);
  EXPECT_LT(static_cast<uint64_t>(st.st_blocks) * 512, uint64_t{64} << 20);
}

TEST(LmdbEnv, MapFullIsResourceExhaustedNamingThePath) {
  testing::TempDir dir("lmdb-full");
  auto env = LmdbEnv::Open(dir.path() + "/meta");
  ASSERT_TRUE(env.ok());
  absl::Status s = (*env)->Error(MDB_MAP_FULL, "commit");
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(s.message().find((*env)->path()), std::string::npos) << s;
}

TEST(LmdbEnv, PathThatIsAFileIsAnErrorNamingIt) {
  testing::TempDir dir("lmdb-file");
  std::string file = dir.path() + "/plain";
  std::ofstream(file) << "not a database";
  auto env = LmdbEnv::Open(file);
  ASSERT_FALSE(env.ok());
  EXPECT_NE(env.status().message().find(file), std::string::npos) << env.status();
}

TEST(LmdbEnv, GarbageDataFileIsAnErrorNotACrash) {
  testing::TempDir dir("lmdb-garbage");
  std::string path = dir.path() + "/meta";
  ASSERT_EQ(::mkdir(path.c_str(), 0755), 0);
  std::ofstream(path + "/data.mdb") << std::string(8192, 'x');
  auto env = LmdbEnv::Open(path);
  ASSERT_FALSE(env.ok());
  EXPECT_NE(env.status().message().find(path), std::string::npos) << env.status();
}

TEST(LmdbEnv, UnwritableDirectoryIsAnError) {
  if (::geteuid() == 0) GTEST_SKIP() << "root ignores permissions";
  testing::TempDir dir("lmdb-perm");
  std::string path = dir.path() + "/meta";
  ASSERT_EQ(::mkdir(path.c_str(), 0555), 0);
  auto env = LmdbEnv::Open(path);
  EXPECT_FALSE(env.ok());
  ::chmod(path.c_str(), 0755);
}

TEST(LmdbEnv, RelativePathIsInvalidArgument) {
  EXPECT_EQ(LmdbEnv::Open("relative/meta").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(LmdbEnv::Open("").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace castor::castore
