// virtio-fs benchmark: the same tree served to the same guest by castor
// (in process, memory store) and by QEMU's virtiofsd (from disk), timed
// inside the guest: metadata walk, read every file, sequential read of a
// big file, 4 KiB random reads. Prints both and castor/virtiofsd ratios.
//   virtiofs_bench [FILES] [BIG_MIB] [ROUNDS] [THREADS]  (defaults 3000, 256, 2, 1)
// The daemons alternate for ROUNDS rounds; the best time of each phase is
// reported (the machine is shared, so single runs are noisy).
#include <fcntl.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <random>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "castore/blob/memory_blob_service.h"
#include "castore/directory/memory_directory_service.h"
#include "castore/import/import.h"
#include "castore/roots/memory_root_service.h"
#include "fs/castore_fs.h"
#include "fs/transport/virtiofs_server.h"
#include "guest_image.h"

namespace stdfs = std::filesystem;
using namespace castor;

namespace {

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void MakeCorpus(const stdfs::path& root, int files, int big_mib) {
  std::mt19937_64 rng(7);
  std::string buf(64 * 1024, '\0');
  for (char& c : buf) c = static_cast<char>(rng());
  for (int i = 0; i < files; ++i) {
    stdfs::path d = root / absl::StrCat("d", i % 50) / absl::StrCat("e", (i / 50) % 4);
    stdfs::create_directories(d);
    size_t size = rng() % (16 * 1024);
    size_t off = rng() % (buf.size() - size);
    std::ofstream(d / absl::StrCat("f", i), std::ios::binary)
        << std::string_view(buf).substr(off, size) << i;
  }
  std::ofstream big(root / "big.bin", std::ios::binary);
  for (int i = 0; i < big_mib * 16; ++i) {
    for (char& c : buf) c = static_cast<char>(rng());
    big << buf;
  }
}

std::map<std::string, double> Parse(const std::string& console) {
  std::map<std::string, double> out;
  std::istringstream lines(console);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream w(line);
    std::string tag, name;
    double ms;
    if ((w >> tag >> name >> ms) && tag == "BENCH") out[name] = ms;
  }
  return out;
}

// Keeps the best (lowest) time per phase.
void Merge(std::map<std::string, double>& best, const std::map<std::string, double>& run) {
  for (const auto& [phase, ms] : run) {
    auto it = best.find(phase);
    if (it == best.end() || ms < it->second) best[phase] = ms;
  }
}

std::string Initrd(const testing::HostKernel& kernel, const stdfs::path& dir,
                   const std::string& name, const std::string& tree) {
  testing::CpioWriter cpio;
  if (!testing::AddGuestBase(cpio, kernel).ok()) std::abort();
  if (!cpio.AddHostFile("/bin/guest_bench", CASTOR_GUEST_BENCH, 0755).ok()) std::abort();
  cpio.AddFile("/init",
               absl::StrCat("#!/bin/sh\n/bin/busybox --install -s /bin\nexport PATH=/bin\n",
                            "mount -t proc proc /proc\nload-modules\n",
                            "mount -t virtiofs castor /mnt || echo MOUNT-FAILED\n", "guest_bench ",
                            tree, " ", tree, "/big.bin\npoweroff -f\n"),
               0755);
  std::string path = (dir / (name + ".cpio")).string();
  if (!cpio.WriteTo(path).ok()) std::abort();
  return path;
}

}  // namespace

int main(int argc, char** argv) {
  int files = argc > 1 ? std::atoi(argv[1]) : 3000;
  int big_mib = argc > 2 ? std::atoi(argv[2]) : 256;
  int rounds = argc > 3 ? std::atoi(argv[3]) : 2;
  int threads = argc > 4 ? std::atoi(argv[4]) : 1;
  auto kernel = testing::FindHostKernel();
  if (!kernel.ok()) {
    std::fprintf(stderr, "%s\n", std::string(kernel.status().message()).c_str());
    return 1;
  }
  char tmpl[] = "/tmp/castor-vfs-bench-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return 1;
  stdfs::path dir = tmpl;
  stdfs::path tree = dir / "tree";
  std::printf("corpus: %d files + %d MiB file in %s; %d rounds; castor --threads %d\n", files,
              big_mib, tree.c_str(), rounds, threads);
  MakeCorpus(tree, files, big_mib);

  std::string vmlinux = (dir / "vmlinux").string();
  if (!testing::ExtractVmlinux(kernel->bzimage, vmlinux).ok()) vmlinux = kernel->bzimage;

  castore::Services services{std::make_shared<castore::MemoryBlobService>(),
                             std::make_shared<castore::MemoryDirectoryService>(),
                             std::make_shared<castore::MemoryRootService>()};
  auto imported = castore::ImportPath(*services.blobs, *services.directories, tree.string());
  if (!imported.ok()) return 1;
  if (!castore::CommitRoot(*services.blobs, *services.roots,
                           castore::Entry{*castore::PathComponent::Create("tree"), imported->node})
           .ok()) {
    return 1;
  }

  std::map<std::string, std::map<std::string, double>> results;
  for (int round = 0; round < rounds; ++round) {
    // castor
    {
      std::string sock = (dir / "castor.sock").string();
      fs::transport::VirtiofsOptions options;
      options.socket_path = sock;
      options.threads = threads;
      int stop = eventfd(0, EFD_CLOEXEC);
      std::promise<void> listening;
      options.on_listening = [&] { listening.set_value(); };
      auto served = std::async(std::launch::async, [&] {
        return fs::transport::ServeVirtiofs(
            [&] { return std::make_unique<fs::CastoreFs>(services, fs::FsOptions{}); }, options,
            stop);
      });
      listening.get_future().wait();
      std::string console = (dir / "castor-console.log").string();
      auto rc = testing::RunWithTimeout(
          testing::QemuArgs(vmlinux, Initrd(*kernel, dir, "castor", "/mnt/tree"), sock, console, "",
                            1024),
          (dir / "castor-qemu.log").string(), std::chrono::seconds(900));
      eventfd_write(stop, 1);
      if (absl::Status s = served.get(); !s.ok())
        std::printf("castor: %s\n", std::string(s.message()).c_str());
      close(stop);
      auto parsed = Parse(Slurp(console));
      Merge(results["castor"], parsed);
      if (!rc.ok() || parsed.size() < 4)
        std::printf("castor run failed:\n%s\n", Slurp(console).c_str());
    }
    // virtiofsd
    {
      std::string sock = (dir / "virtiofsd.sock").string();
      pid_t pid = fork();
      if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        dup2(null, 2);
        std::string s = "--socket-path=" + sock, src = "source=" + tree.string();
        execl("/usr/lib/qemu/virtiofsd", "virtiofsd", s.c_str(), "-o", src.c_str(), "-o",
              "cache=always", "-o", "sandbox=chroot", static_cast<char*>(nullptr));
        _exit(127);
      }
      struct stat st;
      for (int i = 0; i < 500 && stat(sock.c_str(), &st) != 0; ++i) usleep(10000);
      std::string console = (dir / "virtiofsd-console.log").string();
      auto rc = testing::RunWithTimeout(
          testing::QemuArgs(vmlinux, Initrd(*kernel, dir, "virtiofsd", "/mnt"), sock, console, "",
                            1024),
          (dir / "virtiofsd-qemu.log").string(), std::chrono::seconds(900));
      if (pid > 0) {
        kill(pid, SIGTERM);
        waitpid(pid, nullptr, 0);
      }
      auto parsed = Parse(Slurp(console));
      Merge(results["virtiofsd"], parsed);
      if (!rc.ok() || parsed.size() < 4)
        std::printf("virtiofsd run failed:\n%s\n", Slurp(console).c_str());
    }
  }
  std::printf("%-12s %12s %12s %8s\n", "phase (ms)", "castor", "virtiofsd", "ratio");
  for (const char* phase : {"walk", "read_all", "seq_read", "random_read"}) {
    double c = results["castor"][phase], v = results["virtiofsd"][phase];
    std::printf("%-12s %12.1f %12.1f %8.2f\n", phase, c, v, v > 0 ? c / v : 0.0);
  }
  std::printf("(ratio = castor time / virtiofsd time; below 1 means castor is faster)\n");
  std::error_code ec;
  stdfs::remove_all(dir, ec);
  return 0;
}
