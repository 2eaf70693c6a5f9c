// SPDX-License-Identifier: BSD-3-Clause
// SparseArray: a 2^64-byte virtual byte array that stores only the 32 KiB pages holding
// non-zero data, in a two-level page directory. Not thread-safe: the sparse allocator locks.
// Pages are carved from large anonymous mappings, faulted in 2 MiB at a time: filling a fresh
// disk then costs one call per 2 MiB instead of a page fault per 4 KiB. A freed page goes back
// to the kernel at once (MADV_DONTNEED) and is reused, reading as zero, from a free list.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "nbd/result.h"

namespace nbd {

class SparseArray {
 public:
  static constexpr unsigned kPageShift = 15;  // 32 KiB pages
  static constexpr uint64_t kPageSize = uint64_t{1} << kPageShift;
  static constexpr unsigned kDirShift = 12;  // 4096 pages (128 MiB) per directory
  static constexpr uint64_t kPagesPerDir = uint64_t{1} << kDirShift;

  SparseArray() = default;
  ~SparseArray();
  SparseArray(const SparseArray&) = delete;
  SparseArray& operator=(const SparseArray&) = delete;

  // Unallocated bytes read as zero. Never fails.
  void read(std::span<std::byte> buf, uint64_t offset) const;
  // Allocates pages on the first non-zero byte written to them; ENOMEM if that fails
  // (the bytes before the failing page have been written).
  Status write(std::span<const std::byte> buf, uint64_t offset);
  // Writes buf only if every page it touches is already allocated (so nothing in the page
  // directory changes and callers may hold just a shared lock); false, writing nothing, if not.
  bool write_if_allocated(std::span<const std::byte> buf, uint64_t offset);
  // Sets count bytes to c; c == 0 is zero().
  Status fill(std::byte c, uint64_t count, uint64_t offset);
  // Sets count bytes to zero and frees every page that ends up all zero. Never fails and
  // costs time proportional to the pages allocated in the range, not to count.
  void zero(uint64_t count, uint64_t offset);

  // Calls fn(offset, length, allocated) for consecutive runs covering [offset, offset+count),
  // runs split at page boundaries (the first and last clipped to the range). Unallocated
  // stretches are reported as one run however long they are. fn returns false to stop.
  template <class Fn>
  void for_each_run(uint64_t count, uint64_t offset, Fn&& fn) const;

  uint64_t allocated_pages() const { return pages_; }

 private:
  struct Dir {
    uint64_t index;  // page number >> kDirShift
    uint32_t used = 0;
    std::byte* pages[kPagesPerDir] = {};
  };

  const Dir* find_dir(uint64_t dir_index) const;
  // First directory with index >= dir_index (dirs_.size() if none).
  size_t lower_dir(uint64_t dir_index) const;
  std::byte* page(uint64_t page_no) const;
  Result<std::byte*> page_for_write(uint64_t page_no);
  void erase_dir(size_t pos);
  void free_page(size_t dir_pos, uint64_t slot);
  // Zeroes part of one allocated page and frees it if it is then all zero.
  void zero_in_page(uint64_t page_no, size_t in_page, size_t n);
  // Frees every allocated page in [first, last) (page numbers).
  void free_pages(uint64_t first, uint64_t last);

  // Zero-filled pages: from the free list, else the next unused one in the current region.
  std::byte* take_page();
  void give_page(std::byte* p);

  std::vector<std::unique_ptr<Dir>> dirs_;  // sorted by index
  // dirs_[i]->index, kept contiguous so the lookup on every request does not chase pointers.
  std::vector<uint64_t> dir_index_;
  uint64_t pages_ = 0;
  std::vector<std::byte*> free_pages_;
  std::vector<std::pair<void*, size_t>> regions_;  // mappings, unmapped by the destructor
  std::byte* next_ = nullptr;                      // unused part of the newest region
  size_t next_left_ = 0;
};

template <class Fn>
void SparseArray::for_each_run(uint64_t count, uint64_t offset, Fn&& fn) const {
  uint64_t end = offset + count < offset ? UINT64_MAX : offset + count;
  uint64_t pos = offset;
  while (pos < end) {
    uint64_t page_no = pos >> kPageShift;
    uint64_t page_end = (page_no + 1) << kPageShift;
    if (page_end == 0 || page_end > end) page_end = end;
    if (page(page_no) != nullptr) {
      if (!fn(pos, page_end - pos, true)) return;
      pos = page_end;
      continue;
    }
    // Skip ahead to the next allocated page, looking only at existing directories.
    uint64_t next = end;
    for (size_t d = lower_dir(page_no >> kDirShift); d < dirs_.size(); ++d) {
      const Dir& dir = *dirs_[d];
      uint64_t first = dir.index << kDirShift;
      uint64_t slot = first > page_no ? 0 : page_no - first;
      for (; slot < kPagesPerDir && dir.pages[slot] == nullptr; ++slot) {
      }
      if (slot < kPagesPerDir) {
        uint64_t at = (first + slot) << kPageShift;
        if (at < next) next = at;
        break;
      }
    }
    if (!fn(pos, next - pos, false)) return;
    pos = next;
  }
}

}  // namespace nbd
