// A store damaged on disk, as bit rot, a full disk or a careless `rm` leave
// it: blob files truncated, overwritten with wrong bytes of the same length
// or deleted, and LMDB Directory values corrupted (one still decodes but
// hashes wrong, one does not decode). `castor verify` must name exactly
// those paths inside the root and exit 1; `castor mount` of the same store
// must give EIO for exactly those files and directories and serve every
// other byte correctly.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "castore/digest.h"
#include "castore/directory.h"
#include "castore/directory/lmdb_directory_service.h"
#include "castore/lmdb_env.h"
#include "castore/testing/files.h"
#include "castore/testing/paths.h"
#include "castore/testing/rot.h"
#include "castore/testing/subprocess.h"
#include "castore/testing/temp_dir.h"
#include "gtest/gtest.h"

namespace castor {
namespace {

using castore::testing::Child;
using castore::testing::FuseMountGuard;
using castore::testing::ListNames;
using castore::testing::RandomBytes;
using castore::testing::ReadAll;
using castore::testing::RunResult;
using castore::testing::TempDir;
using castore::testing::WriteFile;

castore::PathComponent Name(std::string_view n) { return *castore::PathComponent::Create(n); }

class DamagedStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    bin_ = castore::testing::CastorBinary();
    root_ = dir_.path();
    store_ = root_ + "/store";
    src_ = root_ + "/src";
    // The tree (relative path -> contents); every file has its own blob.
    files_ = {
        {"ok1", RandomBytes(150000, 1)},
        {"trunc", RandomBytes(90000, 2)},
        {"sub/ok2", "ok2 bytes"},
        {"sub/overwrite", RandomBytes(70000, 3)},
        {"sub/deep/ok3", RandomBytes(5000, 4)},
        {"sub/deep/gone", "gone bytes"},
        {"baddir/x", "x in baddir"},
        {"sub/garbagedir/y", "y in garbagedir"},
        {"sibling/ok4", "ok4 bytes"},
    };
    for (const char* d : {"", "/sub", "/sub/deep", "/baddir", "/sub/garbagedir", "/sibling"}) {
      ASSERT_EQ(::mkdir((src_ + d).c_str(), 0755), 0) << d;
    }
    for (const auto& [rel, data] : files_) WriteFile(src_ + "/" + rel, data);
    RunResult r = castore::testing::Run({bin_, "import", "--store", store_, "--name", "t", src_},
                                        root_ + "/import");
    ASSERT_EQ(r.code, 0) << r.err;
    ASSERT_EQ(Castor({"verify"}).code, 0);
  }

  RunResult Castor(std::vector<std::string> args) {
    args.insert(args.begin(), bin_);
    args.push_back("--store");
    args.push_back(store_);
    return castore::testing::Run(args, root_ + "/run");
  }

  std::string BlobPath(const std::string& rel) {
    std::string hex = castore::B3Digest::Of(std::string_view(files_.at(rel))).ToHex();
    return store_ + "/blobs/b3/" + hex.substr(0, 2) + "/" + hex;
  }

  // Starts `castor mount` of the store on `mnt` (made here) and waits for it.
  void StartMount(const std::string& mnt, Child* mount) {
    ASSERT_EQ(::mkdir(mnt.c_str(), 0755), 0);
    *mount = Child::Spawn({bin_, "mount", mnt, "--store", store_}, root_ + "/mount.log",
                          root_ + "/mount.log");
    ASSERT_TRUE(castore::testing::WaitForFuseMount(mnt))
        << castore::testing::SlurpFile(root_ + "/mount.log");
  }

  // The digest of the Directory holding exactly one file `name` of `data`.
  static castore::B3Digest OneFileDir(std::string_view name, const std::string& data) {
    auto d = castore::Directory::Create(
        {castore::Entry{Name(name), castore::FileNode{castore::B3Digest::Of(std::string_view(data)),
                                                      data.size(), false}}});
    CASTOR_CHECK(d.ok());
    return d->digest();
  }

  // Rewrites the stored LMDB value of `digest` with `edit(value)`, through
  // the LMDB API (no castor process has the store open meanwhile).
  void EditDirectoryValue(const castore::B3Digest& digest,
                          const std::function<std::string(std::string)>& edit) {
    auto env = castore::LmdbEnv::Open(store_ + "/meta");
    ASSERT_TRUE(env.ok()) << env.status();
    auto dbi = (*env)->Db(castore::LmdbDirectoryService::kDbName);
    ASSERT_TRUE(dbi.ok()) << dbi.status();
    auto txn = castore::LmdbTxn::Begin(**env, /*write=*/true);
    ASSERT_TRUE(txn.ok()) << txn.status();
    auto value = txn->Get(*dbi, digest.raw());
    ASSERT_TRUE(value.ok()) << value.status();
    ASSERT_TRUE(value->has_value()) << "directory " << digest.ToB3() << " not stored";
    std::string edited = edit(std::string(**value));
    ASSERT_TRUE(txn->Put(*dbi, digest.raw(), edited).ok());
    ASSERT_TRUE(txn->Commit().ok());
  }

  void Damage() {
    // A blob file cut in half.
    ASSERT_EQ(::truncate(BlobPath("trunc").c_str(), 45000), 0);
    // Same length, other bytes.
    WriteFile(BlobPath("sub/overwrite"), RandomBytes(70000, 99));
    // Gone.
    ASSERT_EQ(::unlink(BlobPath("sub/deep/gone").c_str()), 0);
    // A Directory value with a flipped bit in an entry name: it still
    // decodes, to a Directory with another digest.
    EditDirectoryValue(OneFileDir("x", files_.at("baddir/x")), [](std::string v) {
      size_t at = v.find(std::string("\x0a\x01x", 3));
      CASTOR_CHECK(at != std::string::npos);
      v[at + 2] ^= 0x01;  // 'x' -> 'y'
      return v;
    });
    // A Directory value that does not decode at all.
    EditDirectoryValue(OneFileDir("y", files_.at("sub/garbagedir/y")),
                       [](std::string v) { return std::string(v.size(), '\xff'); });
  }

  TempDir dir_{"damaged"};
  std::string bin_, root_, store_, src_;
  std::map<std::string, std::string> files_;
};

TEST_F(DamagedStoreTest, VerifyNamesEachDamagedPathInsideTheRoot) {
  ASSERT_NO_FATAL_FAILURE(Damage());
  RunResult v = Castor({"verify"});
  EXPECT_EQ(v.code, 1) << v.out << v.err;
  std::map<std::string, std::string> problems;  // path -> message
  for (absl::string_view line : absl::StrSplit(v.out, '\n', absl::SkipEmpty())) {
    if (absl::StartsWith(line, "verified ")) continue;
    size_t colon = line.find(": ");
    ASSERT_NE(colon, absl::string_view::npos) << line;
    problems[std::string(line.substr(0, colon))] = std::string(line.substr(colon + 2));
  }
  std::set<std::string> paths;
  for (const auto& [p, m] : problems) paths.insert(p);
  EXPECT_EQ(paths, (std::set<std::string>{"t/trunc", "t/sub/overwrite", "t/sub/deep/gone",
                                          "t/baddir", "t/sub/garbagedir"}))
      << v.out;
  EXPECT_NE(problems["t/trunc"].find("45000 bytes"), std::string::npos) << problems["t/trunc"];
  EXPECT_NE(problems["t/sub/overwrite"].find("hash to"), std::string::npos)
      << problems["t/sub/overwrite"];
  EXPECT_NE(problems["t/sub/deep/gone"].find("missing"), std::string::npos)
      << problems["t/sub/deep/gone"];
  EXPECT_NE(problems["t/baddir"].find("hashes to"), std::string::npos) << problems["t/baddir"];
  EXPECT_NE(problems["t/sub/garbagedir"].find("does not decode"), std::string::npos)
      << problems["t/sub/garbagedir"];
  EXPECT_NE(v.out.find(": 5 problems"), std::string::npos) << v.out;
  EXPECT_NE(v.err.find("verify found 5 problems"), std::string::npos) << v.err;
}

TEST_F(DamagedStoreTest, MountGivesEioForExactlyTheDamagedPathsAndServesTheRest) {
  if (::access("/dev/fuse", R_OK | W_OK) != 0) GTEST_SKIP() << "/dev/fuse not usable";
  ASSERT_NO_FATAL_FAILURE(Damage());
  std::string mnt = root_ + "/mnt";
  FuseMountGuard guard(mnt);
  Child mount;
  ASSERT_NO_FATAL_FAILURE(StartMount(mnt, &mount));
  std::string t = mnt + "/t";

  const std::set<std::string> bad_files = {"trunc", "sub/overwrite", "sub/deep/gone", "baddir/x",
                                           "sub/garbagedir/y"};
  for (const auto& [rel, data] : files_) {
    auto [err, got] = ReadAll(t + "/" + rel);
    if (bad_files.contains(rel)) {
      EXPECT_EQ(err, EIO) << rel << ": " << strerror(err);
      EXPECT_TRUE(got.empty()) << rel << ": " << got.size() << " bytes served";
    } else {
      EXPECT_EQ(err, 0) << rel << ": " << strerror(err);
      EXPECT_TRUE(got == data) << rel << ": wrong bytes";
    }
  }
  // The damaged directories: their own node stats (it lives in the parent),
  // listing them or looking inside is EIO; their siblings list normally.
  struct stat st;
  for (const char* d : {"baddir", "sub/garbagedir"}) {
    ASSERT_EQ(::stat((t + "/" + d).c_str(), &st), 0) << d;
    EXPECT_TRUE(S_ISDIR(st.st_mode));
    EXPECT_EQ(ListNames(t + "/" + d).error, EIO) << d;
  }
  EXPECT_EQ(ListNames(t).names,
            (std::set<std::string>{"baddir", "ok1", "sibling", "sub", "trunc"}));
  EXPECT_EQ(ListNames(t + "/sub").names,
            (std::set<std::string>{"deep", "garbagedir", "ok2", "overwrite"}));
  EXPECT_EQ(ListNames(t + "/sub/deep").names, (std::set<std::string>{"gone", "ok3"}));
  EXPECT_EQ(ListNames(t + "/sibling").names, std::set<std::string>{"ok4"});
  // Failures are not cached as good answers: a second read fails the same.
  EXPECT_EQ(ReadAll(t + "/sub/overwrite").error, EIO);

  mount.Signal(SIGTERM);
  EXPECT_EQ(mount.Wait(std::chrono::seconds(15)), 0);
}

// Something other than a regular file where a blob file should be: a FIFO
// (opening it for reading would wait for a writer forever) and a symlink
// (even to the right bytes: the store never follows links out of itself).
// Every reader refuses them at once, naming the path.
TEST_F(DamagedStoreTest, AFifoOrASymlinkAtABlobPathFailsPromptlyNamingThePath) {
  if (::access("/dev/fuse", R_OK | W_OK) != 0) GTEST_SKIP() << "/dev/fuse not usable";
  const std::string fifo = BlobPath("ok1");
  const std::string link = BlobPath("sub/ok2");
  ASSERT_EQ(::unlink(fifo.c_str()), 0);
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0);
  WriteFile(root_ + "/copy", files_.at("sub/ok2"));
  ASSERT_EQ(::unlink(link.c_str()), 0);
  ASSERT_EQ(::symlink((root_ + "/copy").c_str(), link.c_str()), 0);
  constexpr auto kPrompt = std::chrono::seconds(10);

  RunResult v =
      castore::testing::Run({bin_, "verify", "--store", store_}, root_ + "/verify", kPrompt);
  EXPECT_EQ(v.code, 1) << v.out << v.err;
  for (const std::string& p : {fifo, link}) {
    EXPECT_NE(v.out.find(p + " is not a regular file"), std::string::npos) << v.out;
  }
  EXPECT_NE(v.out.find("t/ok1: "), std::string::npos) << v.out;
  EXPECT_NE(v.out.find("t/sub/ok2: "), std::string::npos) << v.out;

  for (const auto& [rel, path] : {std::pair{"ok1", fifo}, std::pair{"sub/ok2", link}}) {
    RunResult cat = castore::testing::Run({bin_, "cat", "--store", store_, "t/" + std::string(rel)},
                                          root_ + "/cat", kPrompt);
    EXPECT_EQ(cat.code, 1) << rel << ": " << cat.err;
    EXPECT_EQ(cat.out, "") << rel;
    EXPECT_NE(cat.err.find(path + " is not a regular file"), std::string::npos) << cat.err;
  }

  std::string mnt = root_ + "/mnt";
  FuseMountGuard guard(mnt);
  Child mount;
  ASSERT_NO_FATAL_FAILURE(StartMount(mnt, &mount));
  for (const char* rel : {"ok1", "sub/ok2"}) {
    // In a child process, which cannot be killed while the mount holds its
    // request: on a hang the mount is killed, which fails the request.
    const std::string err = root_ + "/read.err";
    ::unlink(err.c_str());
    Child reader = Child::Spawn({"cat", mnt + "/t/" + rel}, "", err);
    int code = reader.Wait(kPrompt);
    if (code == -1) {
      mount.Kill();
      FAIL() << rel << ": still reading after " << kPrompt.count() << " s";
    }
    EXPECT_EQ(code, 1) << rel;
    EXPECT_NE(castore::testing::SlurpFile(err).find("Input/output error"), std::string::npos)
        << rel << ": " << castore::testing::SlurpFile(err);
  }
  auto [err, got] = ReadAll(mnt + "/t/sibling/ok4");
  EXPECT_EQ(err, 0);
  EXPECT_EQ(got, files_.at("sibling/ok4"));
  mount.Signal(SIGTERM);
  EXPECT_EQ(mount.Wait(std::chrono::seconds(15)), 0);

  // Importing the tree again puts the blobs back as regular files.
  RunResult again =
      castore::testing::Run({bin_, "import", "--store", store_, "--name", "t", "--force", src_},
                            root_ + "/import", kPrompt);
  EXPECT_EQ(again.code, 0) << again.err;
  EXPECT_EQ(Castor({"verify"}).code, 0);
}

}  // namespace
}  // namespace castor
