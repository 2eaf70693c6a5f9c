// SPDX-License-Identifier: BSD-3-Clause
// SparseArray (sparse_array.h): page directory lookup, page allocation on first non-zero
// write, and freeing of pages that become all zero.
#include "common/sparse_array.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

#include "common/zero.h"

namespace nbd {
namespace {
// Regions are mapped (address space only) kRegion at a time, the first one small so that a disk
// with a few pages stays small. Memory is faulted in kPopulate at a time as pages are handed out.
constexpr size_t kFirstRegion = size_t{2} << 20, kRegion = size_t{64} << 20;
constexpr size_t kPopulate = size_t{2} << 20;
}  // namespace

SparseArray::~SparseArray() {
  for (auto [addr, len] : regions_) ::munmap(addr, len);
}

std::byte* SparseArray::take_page() {
  if (!free_pages_.empty()) {
    std::byte* p = free_pages_.back();
    free_pages_.pop_back();
    return p;
  }
  if (next_left_ == 0) {
    size_t len = regions_.empty() ? kFirstRegion : kRegion;
    // Room in the free list for every page handed out, so give_page never allocates.
    try {
      free_pages_.reserve(pages_ + len / kPageSize);
    } catch (const std::bad_alloc&) {
      return nullptr;
    }
    void* m = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return nullptr;
    regions_.emplace_back(m, len);
    next_ = static_cast<std::byte*>(m);
    next_left_ = len;
  }
  std::byte* p = next_;
  // Faulting in 2 MiB with one call costs far less than 512 separate page faults (most of
  // the time of filling a fresh disk). Only a hint: older kernels refuse it (EINVAL).
  if ((regions_.back().second - next_left_) % kPopulate == 0)
    ::madvise(p, std::min(kPopulate, next_left_), MADV_POPULATE_WRITE);
  next_ += kPageSize;
  next_left_ -= kPageSize;
  return p;
}

void SparseArray::give_page(std::byte* p) {
  // Returns the memory now; the range reads as zeroes when it is next used. The free list was
  // reserved for every page handed out, so this cannot throw.
  ::madvise(p, kPageSize, MADV_DONTNEED);
  free_pages_.push_back(p);
}

size_t SparseArray::lower_dir(uint64_t dir_index) const {
  auto it = std::lower_bound(dir_index_.begin(), dir_index_.end(), dir_index);
  return static_cast<size_t>(it - dir_index_.begin());
}

const SparseArray::Dir* SparseArray::find_dir(uint64_t dir_index) const {
  size_t pos = lower_dir(dir_index);
  if (pos < dir_index_.size() && dir_index_[pos] == dir_index) return dirs_[pos].get();
  return nullptr;
}

std::byte* SparseArray::page(uint64_t page_no) const {
  const Dir* d = find_dir(page_no >> kDirShift);
  return d ? d->pages[page_no & (kPagesPerDir - 1)] : nullptr;
}

Result<std::byte*> SparseArray::page_for_write(uint64_t page_no) {
  uint64_t dir_index = page_no >> kDirShift;
  size_t pos = lower_dir(dir_index);
  if (pos == dirs_.size() || dirs_[pos]->index != dir_index) {
    std::unique_ptr<Dir> d(new (std::nothrow) Dir);
    if (!d) return make_error(ENOMEM, "sparse array: out of memory for a page directory");
    d->index = dir_index;
    // Reserve first so that the two inserts cannot fail half-way.
    dirs_.reserve(dirs_.size() + 1);
    dir_index_.reserve(dir_index_.size() + 1);
    dir_index_.insert(dir_index_.begin() + static_cast<ptrdiff_t>(pos), dir_index);
    dirs_.insert(dirs_.begin() + static_cast<ptrdiff_t>(pos), std::move(d));
  }
  Dir& d = *dirs_[pos];
  std::byte*& p = d.pages[page_no & (kPagesPerDir - 1)];
  if (p == nullptr) {
    p = take_page();
    if (p == nullptr) {
      if (d.used == 0) erase_dir(pos);
      return make_error(ENOMEM, "sparse array: out of memory for a page");
    }
    ++d.used;
    ++pages_;
  }
  return p;
}

void SparseArray::erase_dir(size_t pos) {
  dirs_.erase(dirs_.begin() + static_cast<ptrdiff_t>(pos));
  dir_index_.erase(dir_index_.begin() + static_cast<ptrdiff_t>(pos));
}

void SparseArray::free_page(size_t dir_pos, uint64_t slot) {
  Dir& d = *dirs_[dir_pos];
  give_page(d.pages[slot]);
  d.pages[slot] = nullptr;
  --pages_;
  if (--d.used == 0) erase_dir(dir_pos);
}

void SparseArray::read(std::span<std::byte> buf, uint64_t offset) const {
  std::byte* dst = buf.data();
  size_t left = buf.size();
  while (left > 0) {
    size_t in_page = offset & (kPageSize - 1);
    size_t n = std::min<size_t>(left, kPageSize - in_page);
    const std::byte* p = page(offset >> kPageShift);
    if (p) {
      std::memcpy(dst, p + in_page, n);
    } else {
      std::memset(dst, 0, n);
    }
    dst += n;
    offset += n;
    left -= n;
  }
}

Status SparseArray::write(std::span<const std::byte> buf, uint64_t offset) {
  const std::byte* src = buf.data();
  size_t left = buf.size();
  while (left > 0) {
    size_t in_page = offset & (kPageSize - 1);
    size_t n = std::min<size_t>(left, kPageSize - in_page);
    uint64_t page_no = offset >> kPageShift;
    std::byte* p = page(page_no);
    if (p == nullptr && !is_zero({src, n})) {
      NBD_TRY_ASSIGN(p, page_for_write(page_no));
    }
    if (p) std::memcpy(p + in_page, src, n);
    src += n;
    offset += n;
    left -= n;
  }
  return ok();
}

bool SparseArray::write_if_allocated(std::span<const std::byte> buf, uint64_t offset) {
  if (buf.empty()) return true;
  uint64_t first = offset >> kPageShift, last = (offset + buf.size() - 1) >> kPageShift;
  for (uint64_t pg = first; pg <= last; ++pg) {
    if (page(pg) == nullptr) return false;
  }
  const std::byte* src = buf.data();
  size_t left = buf.size();
  while (left > 0) {
    size_t in_page = offset & (kPageSize - 1);
    size_t n = std::min<size_t>(left, kPageSize - in_page);
    std::memcpy(page(offset >> kPageShift) + in_page, src, n);
    src += n;
    offset += n;
    left -= n;
  }
  return true;
}

Status SparseArray::fill(std::byte c, uint64_t count, uint64_t offset) {
  if (c == std::byte{0}) {
    zero(count, offset);
    return ok();
  }
  while (count > 0) {
    size_t in_page = offset & (kPageSize - 1);
    size_t n = static_cast<size_t>(std::min<uint64_t>(count, kPageSize - in_page));
    NBD_TRY_ASSIGN(std::byte * p, page_for_write(offset >> kPageShift));
    std::memset(p + in_page, static_cast<int>(c), n);
    offset += n;
    count -= n;
  }
  return ok();
}

void SparseArray::zero_in_page(uint64_t page_no, size_t in_page, size_t n) {
  uint64_t dir_index = page_no >> kDirShift;
  size_t pos = lower_dir(dir_index);
  if (pos == dirs_.size() || dirs_[pos]->index != dir_index) return;
  uint64_t slot = page_no & (kPagesPerDir - 1);
  std::byte* p = dirs_[pos]->pages[slot];
  if (p == nullptr) return;
  std::memset(p + in_page, 0, n);
  if (is_zero({p, kPageSize})) free_page(pos, slot);
}

void SparseArray::free_pages(uint64_t first, uint64_t last) {
  size_t pos = lower_dir(first >> kDirShift);
  while (pos < dirs_.size()) {
    Dir& d = *dirs_[pos];
    uint64_t base = d.index << kDirShift;
    if (base >= last) break;
    uint64_t from = first > base ? first - base : 0;
    uint64_t to = std::min<uint64_t>(kPagesPerDir, last - base);
    bool erased = false;
    for (uint64_t s = from; s < to && !erased; ++s) {
      if (d.pages[s] == nullptr) continue;
      erased = d.used == 1;
      free_page(pos, s);
    }
    if (!erased) ++pos;  // an erased directory's successor moved into pos
  }
}

void SparseArray::zero(uint64_t count, uint64_t offset) {
  if (count == 0) return;
  uint64_t end = offset + count;  // callers keep offset + count <= 2^64 - 1
  uint64_t first_whole = (offset + kPageSize - 1) >> kPageShift;
  uint64_t last_whole = end >> kPageShift;  // exclusive
  if (first_whole >= last_whole) {
    // No whole page: one or two partial pages.
    uint64_t pos = offset;
    while (pos < end) {
      size_t in_page = pos & (kPageSize - 1);
      size_t n = static_cast<size_t>(std::min<uint64_t>(end - pos, kPageSize - in_page));
      zero_in_page(pos >> kPageShift, in_page, n);
      pos += n;
    }
    return;
  }
  if (offset & (kPageSize - 1)) {
    size_t in_page = offset & (kPageSize - 1);
    zero_in_page(offset >> kPageShift, in_page, kPageSize - in_page);
  }
  free_pages(first_whole, last_whole);
  if (end & (kPageSize - 1)) zero_in_page(last_whole, 0, end & (kPageSize - 1));
}

}  // namespace nbd
