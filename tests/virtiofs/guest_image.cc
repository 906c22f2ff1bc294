#include "guest_image.h"

#include <dirent.h>
#include <fcntl.h>
#include <lzma.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace castor::testing {
namespace {

absl::StatusOr<std::string> Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

absl::StatusOr<HostKernel> FindHostKernel() {
  DIR* d = opendir("/boot");
  if (d == nullptr) return absl::NotFoundError("no /boot");
  std::vector<std::string> versions;
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name.rfind("vmlinuz-", 0) != 0) continue;
    std::string v = name.substr(8);
    struct stat st;
    if (stat(("/lib/modules/" + v + "/modules.dep").c_str(), &st) == 0) versions.push_back(v);
  }
  closedir(d);
  if (versions.empty()) return absl::NotFoundError("no /boot/vmlinuz-* with modules");
  std::sort(versions.begin(), versions.end());
  const std::string& v = versions.back();
  return HostKernel{"/boot/vmlinuz-" + v, v, "/lib/modules/" + v};
}

absl::Status ExtractVmlinux(const std::string& bzimage, const std::string& out) {
  auto image = Slurp(bzimage);
  if (!image.ok()) return image.status();
  static const char kXzMagic[] = {'\xfd', '7', 'z', 'X', 'Z', '\0'};
  size_t pos = image->find(std::string_view(kXzMagic, 6));
  if (pos == std::string::npos) {
    return absl::UnimplementedError(absl::StrCat(bzimage, " has no XZ payload"));
  }
  lzma_stream strm = LZMA_STREAM_INIT;
  if (lzma_stream_decoder(&strm, UINT64_MAX, 0) != LZMA_OK) return absl::InternalError("lzma init");
  strm.next_in = reinterpret_cast<const uint8_t*>(image->data() + pos);
  strm.avail_in = image->size() - pos;
  std::string result;
  std::vector<uint8_t> buf(1 << 20);
  lzma_ret ret;
  do {
    strm.next_out = buf.data();
    strm.avail_out = buf.size();
    ret = lzma_code(&strm, LZMA_FINISH);
    result.append(reinterpret_cast<char*>(buf.data()), buf.size() - strm.avail_out);
  } while (ret == LZMA_OK);
  lzma_end(&strm);
  // The payload is followed by the rest of the bzImage, which the stream
  // decoder leaves alone once the stream ended.
  if (ret != LZMA_STREAM_END)
    return absl::DataLossError(absl::StrCat("XZ payload of ", bzimage, ": ", ret));
  if (result.size() < 4 || result.compare(0, 4,
                                          "\x7f"
                                          "ELF") != 0) {
    return absl::DataLossError("decompressed kernel is not an ELF file");
  }
  std::ofstream o(out, std::ios::binary | std::ios::trunc);
  o << result;
  o.close();
  if (!o) return absl::UnavailableError(absl::StrCat("cannot write ", out));
  return absl::OkStatus();
}

const std::vector<std::string>& VirtiofsModuleNames() {
  static const std::vector<std::string> names = {
      "virtio_ring", "virtio",  "virtio_pci_modern_dev", "virtio_pci_legacy_dev", "virtio_pci",
      "fuse",        "virtiofs"};
  return names;
}

absl::StatusOr<std::vector<std::string>> FindModules(const HostKernel& kernel,
                                                     const std::vector<std::string>& names) {
  auto dep = Slurp(kernel.modules_dir + "/modules.dep");
  if (!dep.ok()) return dep.status();
  auto builtin = Slurp(kernel.modules_dir + "/modules.builtin");
  std::vector<std::string> out;
  for (const std::string& name : names) {
    std::string found;
    std::istringstream lines(*dep);
    for (std::string line; std::getline(lines, line);) {
      std::string path = line.substr(0, line.find(':'));
      std::string base = path.substr(path.rfind('/') + 1);
      if (base == name + ".ko") {
        found = path;
        break;
      }
      if (base.rfind(name + ".ko.", 0) == 0) {
        return absl::UnimplementedError(absl::StrCat("module ", path, " is compressed"));
      }
    }
    if (!found.empty()) {
      out.push_back(kernel.modules_dir + "/" + found);
      continue;
    }
    if (builtin.ok() && builtin->find("/" + name + ".ko\n") != std::string::npos) continue;
    return absl::NotFoundError(absl::StrCat("module ", name, " is neither a module nor built in"));
  }
  return out;
}

void CpioWriter::Add(const std::string& path, uint32_t mode, const std::string& data,
                     uint32_t rmajor, uint32_t rminor) {
  std::string name = path[0] == '/' ? path.substr(1) : path;
  out_ += absl::StrFormat("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X", next_ino_++,
                          mode, 0, 0, 1, 0, data.size(), 0, 0, rmajor, rminor, name.size() + 1, 0);
  out_ += name;
  out_.push_back('\0');
  out_.append((4 - out_.size() % 4) % 4, '\0');
  out_ += data;
  out_.append((4 - out_.size() % 4) % 4, '\0');
}

void CpioWriter::AddDir(const std::string& path, mode_t mode) { Add(path, S_IFDIR | mode, ""); }
void CpioWriter::AddFile(const std::string& path, const std::string& data, mode_t mode) {
  Add(path, S_IFREG | mode, data);
}
absl::Status CpioWriter::AddHostFile(const std::string& path, const std::string& host_path,
                                     mode_t mode) {
  auto data = Slurp(host_path);
  if (!data.ok()) return data.status();
  AddFile(path, *data, mode);
  return absl::OkStatus();
}
void CpioWriter::AddSymlink(const std::string& path, const std::string& target) {
  Add(path, S_IFLNK | 0777, target);
}
void CpioWriter::AddCharDev(const std::string& path, uint32_t major, uint32_t minor, mode_t mode) {
  Add(path, S_IFCHR | mode, "", major, minor);
}

absl::Status CpioWriter::WriteTo(const std::string& file) {
  Add("TRAILER!!!", 0, "");
  std::ofstream o(file, std::ios::binary | std::ios::trunc);
  o << out_;
  o.close();
  if (!o) return absl::UnavailableError(absl::StrCat("cannot write ", file));
  return absl::OkStatus();
}

absl::Status AddGuestBase(CpioWriter& cpio, const HostKernel& kernel) {
  for (const char* d : {"/bin", "/dev", "/proc", "/sys", "/mnt", "/tmp", "/modules"})
    cpio.AddDir(d);
  cpio.AddCharDev("/dev/console", 5, 1);
  cpio.AddCharDev("/dev/null", 1, 3, 0666);
  if (auto s = cpio.AddHostFile("/bin/busybox", "/bin/busybox", 0755); !s.ok()) return s;
  cpio.AddSymlink("/bin/sh", "busybox");
  auto modules = FindModules(kernel, VirtiofsModuleNames());
  if (!modules.ok()) return modules.status();
  std::string load = "#!/bin/sh\n";
  for (const std::string& m : *modules) {
    std::string base = m.substr(m.rfind('/') + 1);
    if (auto s = cpio.AddHostFile("/modules/" + base, m, 0644); !s.ok()) return s;
    load += "insmod /modules/" + base + " || exit 1\n";
  }
  cpio.AddFile("/bin/load-modules", load, 0755);
  return absl::OkStatus();
}

absl::StatusOr<int> RunWithTimeout(const std::vector<std::string>& argv, const std::string& log,
                                   std::chrono::seconds timeout) {
  pid_t pid = fork();
  if (pid < 0) return absl::UnavailableError("fork failed");
  if (pid == 0) {
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null >= 0) dup2(null, 0);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (std::chrono::steady_clock::now() > deadline && pid > 0) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return absl::DeadlineExceededError(
          absl::StrCat(argv[0], " did not finish in ", timeout.count(), " s"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

std::vector<std::string> QemuArgs(const std::string& kernel, const std::string& initrd,
                                  const std::string& socket, const std::string& console_log,
                                  const std::string& extra_append, int memory_mib) {
  std::string mem = absl::StrCat(memory_mib, "M");
  return {"qemu-system-x86_64",
          "-nodefaults",
          "-no-user-config",
          "-accel",
          "tcg",
          "-m",
          mem,
          "-object",
          absl::StrCat("memory-backend-memfd,id=mem,size=", mem, ",share=on"),
          "-numa",
          "node,memdev=mem",
          "-chardev",
          absl::StrCat("socket,id=char0,path=", socket),
          "-device",
          "vhost-user-fs-pci,chardev=char0,tag=castor",
          "-display",
          "none",
          "-no-reboot",
          "-serial",
          absl::StrCat("file:", console_log),
          "-kernel",
          kernel,
          "-initrd",
          initrd,
          "-append",
          absl::StrCat("console=ttyS0 quiet loglevel=3 panic=-1 ", extra_append)};
}

}  // namespace castor::testing
