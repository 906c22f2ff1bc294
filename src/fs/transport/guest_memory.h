// Guest memory as shared by a vhost-user frontend: the regions of one
// SET_MEM_TABLE, each mmapped from the fd the frontend passed. Translates
// guest physical addresses (descriptor buffers) and frontend virtual
// addresses (ring addresses) into host pointers, always bounds-checked: no
// translation ever yields bytes outside a mapped region.
//
// Immutable after Create(); safe to use from any number of threads. The
// mappings live as long as the object.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "absl/status/statusor.h"

namespace castor::fs::transport {

// One region as described by the frontend (VhostUserMemoryRegion).
struct MemoryRegionDesc {
  uint64_t guest_phys_addr = 0;
  uint64_t memory_size = 0;
  uint64_t userspace_addr = 0;  // the frontend's virtual address of the region
  uint64_t mmap_offset = 0;     // where the region starts in the fd
};

class GuestMemory {
 public:
  static constexpr size_t kMaxRegions = 8;

  // Maps every region from its fd (the fds stay owned by the caller; the
  // mapping keeps the memory alive). InvalidArgument when the table is empty,
  // too large, has zero-sized, wrapping or overlapping regions or the wrong
  // number of fds; Unavailable when mmap fails.
  static absl::StatusOr<std::unique_ptr<GuestMemory>> Create(
      std::span<const MemoryRegionDesc> regions, std::span<const int> fds);
  // Wraps memory the caller owns (tests): region i is `hosts[i]`.
  static absl::StatusOr<std::unique_ptr<GuestMemory>> CreateUnowned(
      std::span<const MemoryRegionDesc> regions, std::span<uint8_t* const> hosts);
  ~GuestMemory();
  GuestMemory(const GuestMemory&) = delete;
  GuestMemory& operator=(const GuestMemory&) = delete;

  // Host pointer for [gpa, gpa+len) when the whole range lies in one region;
  // nullopt otherwise (also for len 0 outside memory).
  std::optional<std::span<uint8_t>> TranslateGuest(uint64_t gpa, uint64_t len) const;
  // The same for frontend virtual addresses (SET_VRING_ADDR).
  std::optional<std::span<uint8_t>> TranslateFrontend(uint64_t uva, uint64_t len) const;
  // Splits [gpa, gpa+len) into host spans, crossing region boundaries when
  // the guest range spans adjacent regions. Appends to `out`; false (and
  // nothing appended) when any byte lies outside guest memory.
  bool TranslateGuestRange(uint64_t gpa, uint64_t len, std::vector<std::span<uint8_t>>& out) const;

  size_t region_count() const { return regions_.size(); }

 private:
  struct Region {
    MemoryRegionDesc desc;
    uint8_t* host = nullptr;   // start of the region's bytes
    void* map_base = nullptr;  // what to munmap (nullptr: not owned)
    size_t map_length = 0;
  };
  GuestMemory() = default;
  static absl::Status Validate(std::span<const MemoryRegionDesc> regions);
  const Region* FindGuest(uint64_t gpa) const;

  std::vector<Region> regions_;  // sorted by guest_phys_addr
};

}  // namespace castor::fs::transport
