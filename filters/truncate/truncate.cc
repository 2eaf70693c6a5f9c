// SPDX-License-Identifier: BSD-3-Clause
// truncate filter: changes the size of the layer below (truncate=, round-up=, round-down=),
// like upstream's nbdkit-truncate-filter. Bytes past the plugin's end read as zeroes and may
// only be "written" with zeroes; anything else fails with ENOSPC, as upstream does.
#include <algorithm>
#include <cstring>
#include <optional>

#include "nbd/filter.h"
#include "nbd/parse.h"

namespace nbd::filters {
namespace {

constexpr uint32_t kHoleZero = kExtentHole | kExtentZero;

class TruncateConnection final : public FilterConnection {
 public:
  TruncateConnection(std::unique_ptr<Connection> next, uint64_t real, uint64_t size)
      : FilterConnection(std::move(next)), real_(real), size_(size) {}

  Result<uint64_t> get_size() override { return size_; }

  Status pread(std::span<std::byte> buf, uint64_t offset, uint32_t flags) override {
    uint64_t n = below(offset, buf.size());
    if (n > 0) NBD_TRY(next().pread(buf.first(n), offset, flags));
    std::memset(buf.data() + n, 0, buf.size() - n);
    return ok();
  }
  // Checks the part past the real end before writing anything, so a refused request leaves
  // the plugin untouched (upstream writes the part below first, then fails).
  Status pwrite(std::span<const std::byte> buf, uint64_t offset, uint32_t flags) override {
    uint64_t n = below(offset, buf.size());
    auto tail = buf.subspan(n);
    if (std::any_of(tail.begin(), tail.end(), [](std::byte b) { return b != std::byte{0}; }))
      return make_error(ENOSPC, "truncate: write beyond end of underlying device");
    if (n > 0) NBD_TRY(next().pwrite(buf.first(n), offset, flags));
    return ok();
  }
  Status trim(uint64_t count, uint64_t offset, uint32_t flags) override {
    uint64_t n = below(offset, count);
    return n > 0 ? next().trim(n, offset, flags) : ok();
  }
  Status zero(uint64_t count, uint64_t offset, uint32_t flags) override {
    uint64_t n = below(offset, count);
    return n > 0 ? next().zero(n, offset, flags) : ok();
  }
  Status cache(uint64_t count, uint64_t offset, uint32_t flags) override {
    uint64_t n = below(offset, count);
    return n > 0 ? next().cache(n, offset, flags) : ok();
  }
  Status extents(uint64_t count, uint64_t offset, uint32_t flags, ExtentList& out) override {
    uint64_t n = below(offset, count);
    if (n == 0) return out.add(offset, count, kHoleZero);
    NBD_TRY(next().extents(n, offset, flags, out));
    // The added space is a hole; append it only where the plugin's answer reached its end.
    if (offset + count > real_ && out.next_offset() == real_)
      return out.add(real_, offset + count - real_, kHoleZero);
    return ok();
  }

 private:
  // How many of the count bytes at offset lie inside the plugin.
  uint64_t below(uint64_t offset, uint64_t count) const {
    return offset >= real_ ? 0 : std::min(count, real_ - offset);
  }
  uint64_t real_, size_;
};

class TruncateFilter final : public Filter {
 public:
  Result<bool> config(std::string_view key, std::string_view value) override {
    if (key == "truncate") {
      NBD_TRY_ASSIGN(truncate_, parse_size(key, value));
      return true;
    }
    if (key == "round-up" || key == "round-down") {
      NBD_TRY_ASSIGN(uint64_t n, parse_size(key, value));
      if (n == 0)
        return make_error(EINVAL,
                          "truncate: " + std::string(key) + "=" + std::string(value) + ": must be > 0");
      if ((n & (n - 1)) != 0)
        return make_error(
            EINVAL, "truncate: " + std::string(key) + "=" + std::string(value) + ": must be a power of 2");
      (key == "round-up" ? round_up_ : round_down_) = n;
      return true;
    }
    return false;
  }
  Result<std::unique_ptr<Connection>> open(const OpenParams& params, const NextOpen& next) override {
    NBD_TRY_ASSIGN(auto below, next(params));
    NBD_TRY_ASSIGN(uint64_t real, below->get_size());
    NBD_TRY_ASSIGN(uint64_t size, apparent_size(real));
    return std::unique_ptr<Connection>(std::make_unique<TruncateConnection>(std::move(below), real, size));
  }

 private:
  // truncate= first, then round-up=, then round-down= (upstream's order).
  Result<uint64_t> apparent_size(uint64_t real) const {
    uint64_t size = truncate_.value_or(real);
    if (round_up_) {
      uint64_t up = (size + (*round_up_ - 1)) & ~(*round_up_ - 1);
      if (up < size)
        return make_error(EINVAL, "truncate: size " + std::to_string(size) + " rounded up overflows");
      size = up;
    }
    if (round_down_) size &= ~(*round_down_ - 1);
    return size;
  }
  std::optional<uint64_t> truncate_, round_up_, round_down_;
};

constexpr ParamHelp kParams[] = {
    {"truncate", "truncate=<SIZE>  The new size."},
    {"round-up", "round-up=<N>  Round up to next multiple of N (a power of 2)."},
    {"round-down", "round-down=<N>  Round down to multiple of N (a power of 2)."},
};

}  // namespace

extern const FilterInfo truncate_filter_info;
const FilterInfo truncate_filter_info{
    .name = "truncate",
    .description = "nbdkit truncate filter: change the size of the plugin",
    .params = kParams,
    .factory = [] { return std::unique_ptr<Filter>(std::make_unique<TruncateFilter>()); },
};

}  // namespace nbd::filters
