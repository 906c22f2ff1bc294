// End to end: a real Linux guest (QEMU TCG, the host's Debian kernel, a
// busybox initramfs built here) mounts the tree castor serves over
// vhost-user virtio-fs and checks it: sha256 of every file against the
// host's, the full listing (readdir), stat, readlink, xattrs, equal inodes
// for equal contents, and EROFS for every kind of write. The guest reports
// over the serial console, which the test parses.
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <random>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "castore/blob/memory_blob_service.h"
#include "castore/digest.h"
#include "castore/directory/memory_directory_service.h"
#include "castore/import/import.h"
#include "castore/roots/memory_root_service.h"
#include "castore/testing/paths.h"
#include "fs/castore_fs.h"
#include "fs/transport/virtiofs_server.h"
#include "gtest/gtest.h"
#include "guest_image.h"

namespace castor {
namespace {

namespace stdfs = std::filesystem;

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void Write(const stdfs::path& p, const std::string& data, bool exec = false) {
  std::ofstream(p, std::ios::binary) << data;
  stdfs::permissions(p, exec ? stdfs::perms(0755) : stdfs::perms(0644));
}

std::string Shell(const std::string& cmd) {
  std::string out;
  FILE* f = popen(cmd.c_str(), "r");
  if (f == nullptr) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), f)) > 0) out.append(buf, n);
  pclose(f);
  return out;
}

// The tree the guest sees: files of many sizes (empty, one byte short of and
// past the 1 MiB read size), an executable, duplicate contents, odd names, a
// directory large enough to need several READDIR replies, symlinks
// (relative, upwards, dangling) and an empty directory.
void MakeTree(const stdfs::path& root) {
  stdfs::create_directories(root / "sub" / "deeper");
  stdfs::create_directories(root / "many");
  stdfs::create_directories(root / "emptydir");
  Write(root / "hello.txt", "Hello, world!\n");
  Write(root / "empty", "");
  Write(root / "run.sh", "#!/bin/sh\necho hi\n", true);
  std::mt19937_64 rng(42);
  std::string big(3 * 1024 * 1024 + 17, '\0');
  for (char& c : big) c = static_cast<char>(rng());
  Write(root / "big.bin", big);
  Write(root / "almost-1m.bin", big.substr(5, 1024 * 1024 - 1));
  Write(root / "dup1.txt", "same contents\n");
  Write(root / "sub" / "dup2.txt", "same contents\n");
  Write(root / "name with spaces.txt", "spaces\n");
  Write(root /
            "\xc3\xbc"
            "n"
            "\xc3\xaf"
            "c"
            "\xc3\xb8"
            "d"
            "\xc3\xa9"
            ".txt",
        "unicode\n");
  Write(root / "sub" / "deeper" / "leaf.txt", "leaf\n");
  for (int i = 0; i < 300; ++i) {
    char name[16];
    std::snprintf(name, sizeof(name), "f%03d", i);
    Write(root / "many" / name, absl::StrCat("file number ", i, "\n"));
  }
  stdfs::create_symlink("hello.txt", root / "link-rel");
  stdfs::create_symlink("does/not/exist", root / "link-dangling");
  stdfs::create_symlink("../hello.txt", root / "sub" / "link-up");
}

std::string SortLines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  std::sort(lines.begin(), lines.end());
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

struct Expected {
  std::string find, sha256, stat_files, stat_dirs, readlink;
};

Expected Describe(const stdfs::path& root) {
  Expected e;
  std::vector<std::string> all{"."}, files, dirs{"."}, links;
  for (const auto& entry : stdfs::recursive_directory_iterator(root)) {
    std::string rel = "./" + entry.path().lexically_relative(root).string();
    all.push_back(rel);
    if (entry.is_symlink()) {
      links.push_back(rel);
    } else if (entry.is_directory()) {
      dirs.push_back(rel);
    } else {
      files.push_back(rel);
    }
  }
  std::sort(all.begin(), all.end());
  std::sort(dirs.begin(), dirs.end());
  std::vector<std::string> nondirs = files;
  nondirs.insert(nondirs.end(), links.begin(), links.end());
  std::sort(nondirs.begin(), nondirs.end());
  std::sort(links.begin(), links.end());
  for (const auto& p : all) e.find += p + "\n";
  for (const auto& p : nondirs) {
    stdfs::path host = root / p.substr(2);
    if (stdfs::is_symlink(host)) {
      std::string target = stdfs::read_symlink(host).string();
      e.stat_files += absl::StrCat(p, "|", target.size(), "|444|symbolic link|0|0\n");
    } else {
      struct stat st;
      stat(host.c_str(), &st);
      e.stat_files +=
          absl::StrCat(p, "|", st.st_size, "|", (st.st_mode & 0100) ? "555" : "444", "|",
                       st.st_size == 0 ? "regular empty file" : "regular file", "|0|0\n");
    }
  }
  for (const auto& p : dirs) e.stat_dirs += absl::StrCat(p, "|555|directory|0|0\n");
  // The guest sorts whole lines ('|' sorts after '/').
  e.stat_files = SortLines(e.stat_files);
  e.stat_dirs = SortLines(e.stat_dirs);
  for (const auto& p : links)
    e.readlink += absl::StrCat(p, " -> ", stdfs::read_symlink(root / p.substr(2)).string(), "\n");
  e.sha256 = Shell("cd '" + root.string() +
                   "' && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum");
  return e;
}

// The guest's /init: every check prints CASTOR-RESULT <name> PASS|FAIL.
constexpr char kInit[] = R"SH(#!/bin/sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
result() { if [ "$2" = 0 ]; then echo "CASTOR-RESULT $1 PASS"; else echo "CASTOR-RESULT $1 FAIL"; fi; }
check() { # name expected-file actual-file
  if cmp -s "$2" "$3"; then result "$1" 0; else result "$1" 1; diff "$2" "$3" | head -20; fi
}
load-modules; result modules $?
mount -t virtiofs castor /mnt; result mount $?
ls -1 /mnt > /tmp/roots; check roots /expected/roots /tmp/roots
cd /mnt/tree || { echo CASTOR-DONE; poweroff -f; }
find . | LC_ALL=C sort > /tmp/find; check readdir /expected/find /tmp/find
sha256sum -c /expected/sha256 > /tmp/sha 2>&1; r=$?; grep -v ': OK$' /tmp/sha | head; result sha256 $r
find . ! -type d -exec stat -c '%n|%s|%a|%F|%u|%g' {} + | LC_ALL=C sort > /tmp/stat_files
check stat_files /expected/stat_files /tmp/stat_files
find . -type d -exec stat -c '%n|%a|%F|%u|%g' {} + | LC_ALL=C sort > /tmp/stat_dirs
check stat_dirs /expected/stat_dirs /tmp/stat_dirs
find . -type l | LC_ALL=C sort | while IFS= read -r l; do echo "$l -> $(readlink "$l")"; done > /tmp/readlink
check readlink /expected/readlink /tmp/readlink
[ "$(stat -c %i dup1.txt)" = "$(stat -c %i sub/dup2.txt)" ] && [ "$(stat -c %i dup1.txt)" != "$(stat -c %i hello.txt)" ]; result same_inode $?
{ probe xattr hello.txt user.tvix.castore.blob.digest; probe xattr /mnt/tree user.tvix.castore.directory.digest; probe listxattr hello.txt; } > /tmp/xattr 2>&1
check xattr /expected/xattr /tmp/xattr
probe erofs /mnt/tree /mnt/tree/hello.txt > /tmp/erofs 2>&1; check erofs /expected/erofs /tmp/erofs
cat big.bin big.bin > /dev/null; result reread $?
cd /
umount /mnt; result umount $?
# The driver starts over on the same vhost-user connection (device reset,
# a new FUSE INIT): the share must come back.
rmmod virtiofs && insmod /modules/virtiofs.ko && mount -t virtiofs castor /mnt && \
  [ "$(cat /mnt/tree/hello.txt)" = "Hello, world!" ] && umount /mnt; result reinit $?
echo CASTOR-DONE
poweroff -f
)SH";

// One guest run: the tree, its expected views, the initramfs, and the
// parsing of the guest's verdicts. The two tests differ in who serves.
class VirtiofsGuestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (access("/usr/bin/qemu-system-x86_64", X_OK) != 0)
      GTEST_SKIP() << "qemu-system-x86_64 not installed";
    auto kernel = testing::FindHostKernel();
    if (!kernel.ok()) GTEST_SKIP() << kernel.status();
    kernel_ = *kernel;
    char tmpl[] = "/tmp/castor-virtiofs-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    started_ = std::chrono::steady_clock::now();
    tree_ = dir_ / "tree";
    MakeTree(tree_);
    Expected expected = Describe(tree_);

    // The tree in in-process services, as root "tree" (the digests are the
    // same in every store).
    services_ = castore::Services{std::make_shared<castore::MemoryBlobService>(),
                                  std::make_shared<castore::MemoryDirectoryService>(),
                                  std::make_shared<castore::MemoryRootService>()};
    auto imported = castore::ImportPath(*services_.blobs, *services_.directories, tree_.string());
    ASSERT_TRUE(imported.ok()) << imported.status();
    auto name = castore::PathComponent::Create("tree");
    ASSERT_TRUE(name.ok());
    ASSERT_TRUE(castore::CommitRoot(*services_.blobs, *services_.roots,
                                    castore::Entry{*name, imported->node})
                    .ok());
    const auto* root_dir = std::get_if<castore::DirectoryNode>(&imported->node);
    ASSERT_NE(root_dir, nullptr);
    castore::Blake3Hasher hello;
    hello.Update("Hello, world!\n");

    kernel_image_ = (dir_ / "vmlinux").string();
    if (absl::Status s = testing::ExtractVmlinux(kernel_.bzimage, kernel_image_); !s.ok()) {
      ASSERT_EQ(s.code(), absl::StatusCode::kUnimplemented) << s;
      kernel_image_ = kernel_.bzimage;
    }
    testing::CpioWriter cpio;
    ASSERT_TRUE(testing::AddGuestBase(cpio, kernel_).ok());
    ASSERT_TRUE(cpio.AddHostFile("/bin/probe", CASTOR_GUEST_PROBE, 0755).ok());
    cpio.AddFile("/init", kInit, 0755);
    cpio.AddDir("/expected");
    cpio.AddFile("/expected/roots", "tree\n");
    cpio.AddFile("/expected/find", expected.find);
    cpio.AddFile("/expected/sha256", expected.sha256);
    cpio.AddFile("/expected/stat_files", expected.stat_files);
    cpio.AddFile("/expected/stat_dirs", expected.stat_dirs);
    cpio.AddFile("/expected/readlink", expected.readlink);
    cpio.AddFile("/expected/xattr",
                 absl::StrCat(hello.Finalize().ToB3(), "\n", root_dir->digest.ToB3(), "\n",
                              "user.tvix.castore.blob.digest\n"));
    cpio.AddFile(
        "/expected/erofs",
        "create=30 open_write=30 mkdir=30 unlink=30 truncate=30 chmod=30 symlink=30 setxattr=30\n");
    initrd_ = (dir_ / "initrd.cpio").string();
    ASSERT_TRUE(cpio.WriteTo(initrd_).ok());
    socket_ = (dir_ / "vfs.sock").string();
  }

  void TearDown() override {
    if (!dir_.empty()) {
      std::error_code ec;
      stdfs::remove_all(dir_, ec);
      auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::steady_clock::now() - started_);
      std::printf("guest test took %.1f s\n", elapsed.count() / 1000.0);
    }
  }

  // Boots the guest against socket_ and checks its verdicts.
  void RunGuestAndCheck() {
    std::string console = (dir_ / "console.log").string();
    auto qemu = testing::RunWithTimeout(testing::QemuArgs(kernel_image_, initrd_, socket_, console),
                                        (dir_ / "qemu.log").string(), std::chrono::seconds(100));
    std::string log = Slurp(console);
    ASSERT_TRUE(qemu.ok()) << qemu.status() << "\nconsole:\n"
                           << log << "\nqemu:\n"
                           << Slurp((dir_ / "qemu.log").string());
    EXPECT_EQ(*qemu, 0) << Slurp((dir_ / "qemu.log").string());
    std::map<std::string, std::string> results;
    std::istringstream lines(log);
    for (std::string line; std::getline(lines, line);) {
      std::istringstream words(line);
      std::string tag, check, verdict;
      words >> tag >> check >> verdict;
      if (tag == "CASTOR-RESULT") results[check] = verdict;
    }
    for (const char* check :
         {"modules", "mount", "roots", "readdir", "sha256", "stat_files", "stat_dirs", "readlink",
          "same_inode", "xattr", "erofs", "reread", "umount", "reinit"}) {
      EXPECT_EQ(results[check], "PASS") << check << "\nconsole:\n" << log;
    }
    EXPECT_NE(log.find("CASTOR-DONE"), std::string::npos) << log;
  }

  testing::HostKernel kernel_;
  stdfs::path dir_, tree_;
  std::chrono::steady_clock::time_point started_;
  castore::Services services_;
  std::string kernel_image_, initrd_, socket_;
};

TEST_F(VirtiofsGuestTest, GuestReadsTheTreeServedInProcess) {
  // ServeVirtiofs on the in-process services, until the VM disconnects.
  int stop = eventfd(0, EFD_CLOEXEC);
  ASSERT_GE(stop, 0);
  std::promise<void> listening;
  fs::transport::VirtiofsOptions options;
  options.socket_path = socket_;
  options.threads = 2;
  options.on_listening = [&listening] { listening.set_value(); };
  auto new_filesystem = [this] {
    return std::make_unique<fs::CastoreFs>(services_,
                                           fs::FsOptions{.list_root = true, .show_xattr = true});
  };
  auto served = std::async(std::launch::async, [&] {
    return fs::transport::ServeVirtiofs(new_filesystem, options, stop);
  });
  ASSERT_EQ(listening.get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready);
  RunGuestAndCheck();
  // The VM is gone: the server returns by itself; the stop fd is a backstop.
  if (served.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    eventfd_write(stop, 1);
    ADD_FAILURE() << "ServeVirtiofs did not return when the VM disconnected";
  }
  absl::Status serve_status = served.get();
  close(stop);
  EXPECT_TRUE(serve_status.ok()) << serve_status;
}

TEST_F(VirtiofsGuestTest, GuestReadsTheTreeImportedAndServedByTheCastorBinary) {
  std::string bin = castor::castore::testing::CastorBinary();
  std::string store = (dir_ / "store").string();
  std::string import_log = (dir_ / "import.log").string();
  auto imported =
      testing::RunWithTimeout({bin, "import", "--store", store, "--name", "tree", tree_.string()},
                              import_log, std::chrono::seconds(60));
  ASSERT_TRUE(imported.ok()) << imported.status();
  ASSERT_EQ(*imported, 0) << Slurp(import_log);

  std::string server_log = (dir_ / "server.log").string();
  auto server = std::async(std::launch::async, [&] {
    return testing::RunWithTimeout({bin, "virtiofs", "--store", store, "--socket", socket_,
                                    "--list-root", "--show-xattr", "--threads", "2"},
                                   server_log, std::chrono::seconds(110));
  });
  struct stat st;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (stat(socket_.c_str(), &st) != 0) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "no socket; server log:\n"
                                                          << Slurp(server_log);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  RunGuestAndCheck();
  // castor virtiofs exits 0 by itself once the VM has disconnected (the
  // timeout above kills it otherwise).
  auto rc = server.get();
  ASSERT_TRUE(rc.ok()) << rc.status() << Slurp(server_log);
  EXPECT_EQ(*rc, 0) << Slurp(server_log);
}

}  // namespace
}  // namespace castor
