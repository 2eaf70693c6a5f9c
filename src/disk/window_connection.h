// SPDX-License-Identifier: BSD-3-Clause
// WindowConnection: a filter connection that serves the byte range [start, start+size) of the
// layer below, found once at open (the partition and tar filters). Requests arrive already
// checked against size by the core, so shifting them by start keeps them inside the window.
#pragma once

#include <cstdint>
#include <memory>

#include "nbd/filter.h"

namespace nbd::vdisk {

class WindowConnection final : public FilterConnection {
 public:
  WindowConnection(std::unique_ptr<Connection> next, uint64_t start, uint64_t size)
      : FilterConnection(std::move(next)), start_(start), size_(size) {}

  uint64_t start() const { return start_; }
  Result<uint64_t> get_size() override { return size_; }
  Status pread(std::span<std::byte> buf, uint64_t offset, uint32_t flags) override {
    return next().pread(buf, offset + start_, flags);
  }
  Status pwrite(std::span<const std::byte> buf, uint64_t offset, uint32_t flags) override {
    return next().pwrite(buf, offset + start_, flags);
  }
  Status trim(uint64_t count, uint64_t offset, uint32_t flags) override {
    return next().trim(count, offset + start_, flags);
  }
  Status zero(uint64_t count, uint64_t offset, uint32_t flags) override {
    return next().zero(count, offset + start_, flags);
  }
  Status cache(uint64_t count, uint64_t offset, uint32_t flags) override {
    return next().cache(count, offset + start_, flags);
  }
  // Below may answer past the window's end (up to the end of the disk); those extents are
  // cut at the window's end so the client never hears about the next partition or entry.
  Status extents(uint64_t count, uint64_t offset, uint32_t flags, ExtentList& out) override {
    ExtentList below(offset + start_, start_ + size_);
    NBD_TRY(next().extents(count, offset + start_, flags, below));
    for (const Extent& e : below.extents()) {
      uint64_t end = std::min(e.offset + e.length, start_ + size_);
      if (e.offset >= end) break;
      NBD_TRY(out.add(e.offset - start_, end - e.offset, e.flags));
    }
    return ok();
  }

 private:
  uint64_t start_, size_;
};

}  // namespace nbd::vdisk
