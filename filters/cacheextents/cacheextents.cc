// SPDX-License-Identifier: BSD-3-Clause
// cacheextents filter: keeps the answer of the last block-status call, as upstream's
// nbdkit-cacheextents-filter, so a client walking the disk one extent at a time (qemu-img map
// and convert ask with REQ_ONE) costs the plugin one call per batch of extents rather than one
// per extent. The plugin is always asked without REQ_ONE, for as much as it will say. One cache
// for every connection; any write, trim or zero empties it.
#include <mutex>
#include <vector>

#include "nbd/filter.h"

namespace nbd::filters {
namespace {

class SharedExtents {
 public:
  // Copies the cached extents from offset on into out; false when offset is not cached.
  Result<bool> lookup(uint64_t offset, ExtentList& out) {
    std::lock_guard l(mu_);
    if (extents_.empty() || offset < extents_.front().offset || offset >= end_) return false;
    for (const Extent& e : extents_) {
      if (e.offset + e.length <= offset)
        continue;  // wholly before: ExtentList wants the first to cover offset
      NBD_TRY(out.add(e.offset, e.length, e.flags));
    }
    return true;
  }
  void store(const std::vector<Extent>& extents, uint64_t generation) {
    std::lock_guard l(mu_);
    if (generation != generation_ || extents.empty()) return;  // a write came in between
    extents_ = extents;
    end_ = extents.back().offset + extents.back().length;
  }
  uint64_t generation() {
    std::lock_guard l(mu_);
    return generation_;
  }
  void invalidate() {
    std::lock_guard l(mu_);
    ++generation_;
    extents_.clear();
    end_ = 0;
  }

 private:
  std::mutex mu_;
  std::vector<Extent> extents_;  // contiguous, from extents_.front().offset to end_
  uint64_t end_ = 0;
  uint64_t generation_ = 0;  // bumped by every change to the data, so no stale answer is stored
};

class CacheExtentsConnection final : public FilterConnection {
 public:
  CacheExtentsConnection(std::unique_ptr<Connection> next, SharedExtents& cache)
      : FilterConnection(std::move(next)), cache_(cache) {}

  Status extents(uint64_t count, uint64_t offset, uint32_t flags, ExtentList& out) override {
    NBD_TRY_ASSIGN(bool hit, cache_.lookup(offset, out));
    if (hit) return ok();
    NBD_TRY_ASSIGN(uint64_t size, next().get_size());
    uint64_t generation = cache_.generation();
    ExtentList below(offset, size);
    NBD_TRY(next().extents(count, offset, flags & ~kReqOne, below));
    cache_.store(below.extents(), generation);
    for (const Extent& e : below.extents()) NBD_TRY(out.add(e.offset, e.length, e.flags));
    return ok();
  }
  Status pwrite(std::span<const std::byte> buf, uint64_t offset, uint32_t flags) override {
    cache_.invalidate();
    Status s = next().pwrite(buf, offset, flags);
    cache_.invalidate();  // a block-status call that overlapped the write stores nothing
    return s;
  }
  Status trim(uint64_t count, uint64_t offset, uint32_t flags) override {
    cache_.invalidate();
    Status s = next().trim(count, offset, flags);
    cache_.invalidate();
    return s;
  }
  Status zero(uint64_t count, uint64_t offset, uint32_t flags) override {
    cache_.invalidate();
    Status s = next().zero(count, offset, flags);
    cache_.invalidate();
    return s;
  }

 private:
  SharedExtents& cache_;
};

class CacheExtentsFilter final : public Filter {
 public:
  Result<std::unique_ptr<Connection>> open(const OpenParams& params, const NextOpen& next) override {
    NBD_TRY_ASSIGN(auto below, next(params));
    return std::unique_ptr<Connection>(std::make_unique<CacheExtentsConnection>(std::move(below), cache_));
  }

 private:
  SharedExtents cache_;
};

}  // namespace

extern const FilterInfo cacheextents_filter_info;
const FilterInfo cacheextents_filter_info{
    .name = "cacheextents",
    .description = "nbdkit cacheextents filter: cache the result of the last extents call",
    .params = {},
    .factory = [] { return std::unique_ptr<Filter>(std::make_unique<CacheExtentsFilter>()); },
};

}  // namespace nbd::filters
