// SPDX-License-Identifier: BSD-3-Clause
// Allocators: the byte store behind the memory and data plugins (upstream's allocator=
// parameter). "sparse" keeps only pages that were written (a terabyte disk of a few bytes costs
// a few pages), "malloc" is one flat buffer, "zstd" is sparse with each page compressed. All
// methods are thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "nbd/plugin.h"
#include "nbd/result.h"
#include "runtime/memory_like_connection.h"

namespace nbd {

class Allocator {
 public:
  virtual ~Allocator() = default;
  // Tells the allocator the virtual size; malloc allocates it, sparse ignores it.
  virtual Status set_size_hint(uint64_t size) = 0;
  // Unwritten bytes read as zero.
  virtual Status read(std::span<std::byte> buf, uint64_t offset) = 0;
  virtual Status write(std::span<const std::byte> buf, uint64_t offset) = 0;
  // Sets count bytes to c (c == 0 frees whole pages in the sparse allocator).
  virtual Status fill(std::byte c, uint64_t count, uint64_t offset) = 0;
  // Same as fill(0, ...); frees memory where it can.
  virtual Status zero(uint64_t count, uint64_t offset) = 0;
  // Copies count bytes from src at src_offset to this at offset (src may be *this).
  virtual Status blit(Allocator& src, uint64_t count, uint64_t src_offset, uint64_t offset) = 0;
  // Reports holes (kExtentHole|kExtentZero) and data for [offset, offset+count).
  virtual Status extents(uint64_t count, uint64_t offset, ExtentList& extents) = 0;
  // Bytes of memory holding data, for tests and the memory plugin's debug output.
  virtual uint64_t allocated_bytes() const = 0;
};

// spec is "sparse", "malloc", "malloc,mlock=true" or "zstd" (upstream's allocator= syntax).
Result<std::unique_ptr<Allocator>> create_allocator(std::string_view spec);

// A writable RAM disk of `size` bytes over an allocator the plugin owns (memory and data
// plugins). Zeroing only drops or clears memory, so it is always fast.
class AllocatorConnection final : public MemoryLikeConnection {
 public:
  AllocatorConnection(Allocator& a, uint64_t size) : MemoryLikeConnection(size), a_(a) {}
  Status pread(std::span<std::byte> buf, uint64_t offset, uint32_t) override { return a_.read(buf, offset); }
  Status pwrite(std::span<const std::byte> buf, uint64_t offset, uint32_t) override {
    return a_.write(buf, offset);
  }
  Status trim(uint64_t count, uint64_t offset, uint32_t) override { return a_.zero(count, offset); }
  Status zero(uint64_t count, uint64_t offset, uint32_t) override { return a_.zero(count, offset); }
  Status extents(uint64_t count, uint64_t offset, uint32_t, ExtentList& e) override {
    return a_.extents(count, offset, e);
  }

 private:
  Allocator& a_;
};

}  // namespace nbd
