// SPDX-License-Identifier: BSD-3-Clause
// Connections of disks with nothing to persist and nothing slow: every capability is on, FUA
// is native (there is nothing to flush), flush and cache do nothing, and zeroing is always
// fast. The RAM disks (AllocatorConnection), null and ones derive from it.
#pragma once

#include <cstring>

#include "nbd/plugin.h"

namespace nbd {

class MemoryLikeConnection : public Connection {
 public:
  explicit MemoryLikeConnection(uint64_t size) : size_(size) {}
  Result<uint64_t> get_size() override { return size_; }
  Result<bool> can_write() override { return true; }
  Result<bool> can_flush() override { return true; }
  Result<bool> can_trim() override { return true; }
  Result<ZeroMode> can_zero() override { return ZeroMode::Native; }
  Result<bool> can_fast_zero() override { return true; }
  Result<bool> can_extents() override { return true; }
  Result<FuaMode> can_fua() override { return FuaMode::Native; }
  Result<bool> can_multi_conn() override { return true; }
  Result<CacheMode> can_cache() override { return CacheMode::Native; }
  Status flush(uint32_t) override { return ok(); }
  Status cache(uint64_t, uint64_t, uint32_t) override { return ok(); }

 private:
  uint64_t size_;
};

// A disk that reads as one repeated byte and throws everything written away, reporting its
// whole range as extent_type (null: zeroes as a hole; ones: 0xff as data).
class FillConnection : public MemoryLikeConnection {
 public:
  FillConnection(uint64_t size, std::byte fill, uint32_t extent_type)
      : MemoryLikeConnection(size), fill_(fill), extent_type_(extent_type) {}
  Status pread(std::span<std::byte> buf, uint64_t, uint32_t) override {
    std::memset(buf.data(), static_cast<int>(fill_), buf.size());
    return ok();
  }
  Status pwrite(std::span<const std::byte>, uint64_t, uint32_t) override { return ok(); }
  Status trim(uint64_t, uint64_t, uint32_t) override { return ok(); }
  Status zero(uint64_t, uint64_t, uint32_t) override { return ok(); }
  Status extents(uint64_t count, uint64_t offset, uint32_t, ExtentList& e) override {
    return e.add(offset, count, extent_type_);
  }

 private:
  std::byte fill_;
  uint32_t extent_type_;
};

}  // namespace nbd
