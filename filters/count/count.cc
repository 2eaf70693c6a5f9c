// SPDX-License-Identifier: BSD-3-Clause
// count filter: counts the bytes clients read, write, zero and trim, and prints the totals as
// a debug message when the server exits (nbdkit -v), like upstream's nbdkit-count-filter.
#include <atomic>
#include <cinttypes>

#include "nbd/filter.h"
#include "nbd/log.h"

namespace nbd::filters {
namespace {

// One cache line each, so parallel readers and writers do not bounce one line between cores.
struct alignas(64) Counter {
  std::atomic<uint64_t> bytes{0};
  void add(uint64_t n) { bytes.fetch_add(n, std::memory_order_relaxed); }
  uint64_t get() const { return bytes.load(std::memory_order_relaxed); }
};

struct Counts {
  Counter read, written, zeroed, trimmed;
};

class CountConnection final : public FilterConnection {
 public:
  CountConnection(std::unique_ptr<Connection> next, Counts& c) : FilterConnection(std::move(next)), c_(c) {}

  // Only requests that succeed are counted.
  Status pread(std::span<std::byte> buf, uint64_t offset, uint32_t flags) override {
    NBD_TRY(next().pread(buf, offset, flags));
    c_.read.add(buf.size());
    return ok();
  }
  Status pwrite(std::span<const std::byte> buf, uint64_t offset, uint32_t flags) override {
    NBD_TRY(next().pwrite(buf, offset, flags));
    c_.written.add(buf.size());
    return ok();
  }
  Status zero(uint64_t count, uint64_t offset, uint32_t flags) override {
    NBD_TRY(next().zero(count, offset, flags));
    c_.zeroed.add(count);
    return ok();
  }
  Status trim(uint64_t count, uint64_t offset, uint32_t flags) override {
    NBD_TRY(next().trim(count, offset, flags));
    c_.trimmed.add(count);
    return ok();
  }

 private:
  Counts& c_;
};

class CountFilter final : public Filter {
 public:
  Result<std::unique_ptr<Connection>> open(const OpenParams& params, const NextOpen& next) override {
    NBD_TRY_ASSIGN(auto below, next(params));
    return std::unique_ptr<Connection>(std::make_unique<CountConnection>(std::move(below), counts_));
  }
  void unload() override {
    log::debug("count bytes: read %" PRIu64 ", written %" PRIu64 ", zeroed %" PRIu64 ", trimmed %" PRIu64,
               counts_.read.get(), counts_.written.get(), counts_.zeroed.get(), counts_.trimmed.get());
  }

 private:
  Counts counts_;
};

}  // namespace

extern const FilterInfo count_filter_info;
const FilterInfo count_filter_info{
    .name = "count",
    .description = "nbdkit count filter: count bytes read, written, zeroed and trimmed",
    .params = {},
    .factory = [] { return std::unique_ptr<Filter>(std::make_unique<CountFilter>()); },
};

}  // namespace nbd::filters
