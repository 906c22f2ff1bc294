#include "fs/transport/guest_memory.h"

#include <sys/mman.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>

#include "absl/strings/str_cat.h"
#include "base/status.h"

namespace castor::fs::transport {

absl::Status GuestMemory::Validate(std::span<const MemoryRegionDesc> regions) {
  if (regions.empty()) return absl::InvalidArgumentError("memory table has no regions");
  if (regions.size() > kMaxRegions) {
    return absl::InvalidArgumentError(
        absl::StrCat("memory table has ", regions.size(), " regions, at most ", kMaxRegions));
  }
  for (size_t i = 0; i < regions.size(); ++i) {
    const MemoryRegionDesc& r = regions[i];
    if (r.memory_size == 0)
      return absl::InvalidArgumentError(absl::StrCat("region ", i, " is empty"));
    uint64_t end;
    if (__builtin_add_overflow(r.guest_phys_addr, r.memory_size, &end) ||
        __builtin_add_overflow(r.userspace_addr, r.memory_size, &end) ||
        __builtin_add_overflow(r.mmap_offset, r.memory_size, &end) || end > (uint64_t{1} << 62)) {
      return absl::InvalidArgumentError(absl::StrCat("region ", i, " wraps around"));
    }
    for (size_t j = 0; j < i; ++j) {
      const MemoryRegionDesc& o = regions[j];
      bool disjoint = r.guest_phys_addr + r.memory_size <= o.guest_phys_addr ||
                      o.guest_phys_addr + o.memory_size <= r.guest_phys_addr;
      if (!disjoint) {
        return absl::InvalidArgumentError(absl::StrCat("regions ", j, " and ", i, " overlap"));
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<GuestMemory>> GuestMemory::Create(
    std::span<const MemoryRegionDesc> regions, std::span<const int> fds) {
  RETURN_IF_ERROR(Validate(regions));
  if (fds.size() != regions.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("memory table has ", regions.size(), " regions but ", fds.size(), " fds"));
  }
  std::unique_ptr<GuestMemory> mem(new GuestMemory);
  for (size_t i = 0; i < regions.size(); ++i) {
    // Map from offset 0 so that mmap_offset need not be page-aligned.
    size_t length = regions[i].mmap_offset + regions[i].memory_size;
    // A file shorter than the region would SIGBUS on access.
    struct stat st;
    if (fstat(fds[i], &st) != 0)
      return ErrnoStatus(errno, absl::StrCat("fstat of region ", i, "'s fd"));
    if (S_ISREG(st.st_mode) && static_cast<uint64_t>(st.st_size) < length) {
      return absl::InvalidArgumentError(absl::StrCat("region ", i, " needs ", length,
                                                     " bytes of its file, which has ", st.st_size));
    }
    void* base =
        mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fds[i], 0);
    if (base == MAP_FAILED) {
      return ErrnoStatus(errno, absl::StrCat("mmap of guest memory region ", i, " (",
                                             regions[i].memory_size, " bytes)"));
    }
    mem->regions_.push_back(
        Region{regions[i], static_cast<uint8_t*>(base) + regions[i].mmap_offset, base, length});
  }
  std::sort(mem->regions_.begin(), mem->regions_.end(), [](const Region& a, const Region& b) {
    return a.desc.guest_phys_addr < b.desc.guest_phys_addr;
  });
  return mem;
}

absl::StatusOr<std::unique_ptr<GuestMemory>> GuestMemory::CreateUnowned(
    std::span<const MemoryRegionDesc> regions, std::span<uint8_t* const> hosts) {
  RETURN_IF_ERROR(Validate(regions));
  if (hosts.size() != regions.size())
    return absl::InvalidArgumentError("one host pointer per region");
  std::unique_ptr<GuestMemory> mem(new GuestMemory);
  for (size_t i = 0; i < regions.size(); ++i) {
    mem->regions_.push_back(Region{regions[i], hosts[i], nullptr, 0});
  }
  std::sort(mem->regions_.begin(), mem->regions_.end(), [](const Region& a, const Region& b) {
    return a.desc.guest_phys_addr < b.desc.guest_phys_addr;
  });
  return mem;
}

GuestMemory::~GuestMemory() {
  for (const Region& r : regions_) {
    if (r.map_base != nullptr) munmap(r.map_base, r.map_length);
  }
}

const GuestMemory::Region* GuestMemory::FindGuest(uint64_t gpa) const {
  for (const Region& r : regions_) {
    if (gpa >= r.desc.guest_phys_addr && gpa - r.desc.guest_phys_addr < r.desc.memory_size)
      return &r;
  }
  return nullptr;
}

std::optional<std::span<uint8_t>> GuestMemory::TranslateGuest(uint64_t gpa, uint64_t len) const {
  const Region* r = FindGuest(gpa);
  if (r == nullptr) return std::nullopt;
  uint64_t off = gpa - r->desc.guest_phys_addr;
  if (len > r->desc.memory_size - off) return std::nullopt;
  return std::span<uint8_t>(r->host + off, len);
}

std::optional<std::span<uint8_t>> GuestMemory::TranslateFrontend(uint64_t uva, uint64_t len) const {
  for (const Region& r : regions_) {
    if (uva >= r.desc.userspace_addr && uva - r.desc.userspace_addr < r.desc.memory_size) {
      uint64_t off = uva - r.desc.userspace_addr;
      if (len > r.desc.memory_size - off) return std::nullopt;
      return std::span<uint8_t>(r.host + off, len);
    }
  }
  return std::nullopt;
}

bool GuestMemory::TranslateGuestRange(uint64_t gpa, uint64_t len,
                                      std::vector<std::span<uint8_t>>& out) const {
  size_t start = out.size();
  uint64_t end;
  if (__builtin_add_overflow(gpa, len, &end)) return false;
  while (len > 0) {
    const Region* r = FindGuest(gpa);
    if (r == nullptr) {
      out.resize(start);
      return false;
    }
    uint64_t off = gpa - r->desc.guest_phys_addr;
    uint64_t n = std::min(len, r->desc.memory_size - off);
    out.emplace_back(r->host + off, n);
    gpa += n;
    len -= n;
  }
  return true;
}

}  // namespace castor::fs::transport
