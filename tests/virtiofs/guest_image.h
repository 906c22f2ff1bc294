// Test guest images for the virtio-fs tests and benchmarks: the host's
// Debian kernel (as an uncompressed vmlinux, extracted from the bzImage so
// QEMU boots it through PVH without decompressing under TCG), its virtio-fs
// modules, and newc initramfs archives with busybox. Single-threaded.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace castor::testing {

struct HostKernel {
  std::string bzimage;  // /boot/vmlinuz-<version>
  std::string version;
  std::string modules_dir;  // /lib/modules/<version>
};

// The newest /boot/vmlinuz-* that has a /lib/modules directory.
absl::StatusOr<HostKernel> FindHostKernel();

// Writes the kernel inside `bzimage` (an XZ-compressed payload) to `out` as
// an ELF vmlinux. Unimplemented for other compressions (boot the bzImage).
absl::Status ExtractVmlinux(const std::string& bzimage, const std::string& out);

// The module files (in load order) for `names`, skipping those built into
// the kernel (modules.builtin). NotFound when one is neither.
absl::StatusOr<std::vector<std::string>> FindModules(const HostKernel& kernel,
                                                     const std::vector<std::string>& names);

// virtio_ring, virtio, virtio_pci_modern_dev, virtio_pci_legacy_dev,
// virtio_pci, fuse, virtiofs.
const std::vector<std::string>& VirtiofsModuleNames();

// A newc ("070701") cpio archive, as the kernel unpacks into its rootfs.
class CpioWriter {
 public:
  void AddDir(const std::string& path, mode_t mode = 0755);
  void AddFile(const std::string& path, const std::string& data, mode_t mode = 0644);
  absl::Status AddHostFile(const std::string& path, const std::string& host_path, mode_t mode);
  void AddSymlink(const std::string& path, const std::string& target);
  void AddCharDev(const std::string& path, uint32_t major, uint32_t minor, mode_t mode = 0600);
  // Appends the trailer and writes the archive.
  absl::Status WriteTo(const std::string& file);

 private:
  void Add(const std::string& path, uint32_t mode, const std::string& data, uint32_t rmajor = 0,
           uint32_t rminor = 0);
  std::string out_;
  uint32_t next_ino_ = 1;
};

// The standard guest: busybox at /bin/busybox, the virtio-fs modules under
// /modules (loaded by /bin/load-modules), /dev/console, empty /proc /sys
// /mnt /tmp. Callers add /init and their own files.
absl::Status AddGuestBase(CpioWriter& cpio, const HostKernel& kernel);

// Runs `argv` with stdout+stderr to `log`, killing it after `timeout`.
// Returns its exit status, or DeadlineExceeded.
absl::StatusOr<int> RunWithTimeout(const std::vector<std::string>& argv, const std::string& log,
                                   std::chrono::seconds timeout);

// QEMU arguments for a TCG guest with shared memfd memory, a vhost-user-fs
// device on `socket` with tag "castor", console on `console_log`.
std::vector<std::string> QemuArgs(const std::string& kernel, const std::string& initrd,
                                  const std::string& socket, const std::string& console_log,
                                  const std::string& extra_append = "", int memory_mib = 512);

}  // namespace castor::testing
