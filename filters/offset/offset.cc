// SPDX-License-Identifier: BSD-3-Clause
// offset filter: serves the window [offset, offset+range) of the layer below, like upstream's
// nbdkit-offset-filter. Requests and extents are shifted; the window must fit the plugin.
#include <optional>

#include "nbd/filter.h"
#include "nbd/parse.h"

namespace nbd::filters {
namespace {

class OffsetConnection final : public FilterConnection {
 public:
  OffsetConnection(std::unique_ptr<Connection> next, uint64_t offset, std::optional<uint64_t> range)
      : FilterConnection(std::move(next)), offset_(offset), range_(range) {}

  Result<uint64_t> get_size() override {
    NBD_TRY_ASSIGN(uint64_t real, next().get_size());
    if (range_) {
      if (offset_ > real || *range_ > real - offset_)
        return make_error(EINVAL, "offset: offset+range (" + std::to_string(offset_) + "+" +
                                      std::to_string(*range_) + ") is larger than the real size (" +
                                      std::to_string(real) + ") of the underlying file or device");
      return *range_;
    }
    if (offset_ > real)
      return make_error(EINVAL, "offset: offset (" + std::to_string(offset_) +
                                    ") is larger than the real size (" + std::to_string(real) +
                                    ") of the underlying file or device");
    return real - offset_;
  }

  Status pread(std::span<std::byte> buf, uint64_t offset, uint32_t flags) override {
    return next().pread(buf, offset + offset_, flags);
  }
  Status pwrite(std::span<const std::byte> buf, uint64_t offset, uint32_t flags) override {
    return next().pwrite(buf, offset + offset_, flags);
  }
  Status trim(uint64_t count, uint64_t offset, uint32_t flags) override {
    return next().trim(count, offset + offset_, flags);
  }
  Status zero(uint64_t count, uint64_t offset, uint32_t flags) override {
    return next().zero(count, offset + offset_, flags);
  }
  Status cache(uint64_t count, uint64_t offset, uint32_t flags) override {
    return next().cache(count, offset + offset_, flags);
  }
  // Asks below for the shifted range, then moves each extent back into the window; extents
  // past the window's end are dropped by the caller's list.
  Status extents(uint64_t count, uint64_t offset, uint32_t flags, ExtentList& out) override {
    ExtentList below(offset + offset_, offset + offset_ + count);
    NBD_TRY(next().extents(count, offset + offset_, flags, below));
    for (const Extent& e : below.extents()) NBD_TRY(out.add(e.offset - offset_, e.length, e.flags));
    return ok();
  }

 private:
  uint64_t offset_;
  std::optional<uint64_t> range_;
};

class OffsetFilter final : public Filter {
 public:
  Result<bool> config(std::string_view key, std::string_view value) override {
    if (key == "offset") {
      NBD_TRY_ASSIGN(offset_, parse_size(key, value));
      return true;
    }
    if (key == "range") {
      NBD_TRY_ASSIGN(range_, parse_size(key, value));
      return true;
    }
    return false;
  }
  Result<std::unique_ptr<Connection>> open(const OpenParams& params, const NextOpen& next) override {
    NBD_TRY_ASSIGN(auto below, next(params));
    return std::unique_ptr<Connection>(std::make_unique<OffsetConnection>(std::move(below), offset_, range_));
  }

 private:
  uint64_t offset_ = 0;
  std::optional<uint64_t> range_;
};

constexpr ParamHelp kParams[] = {
    {"offset", "offset=<OFFSET>  The start offset to serve (default 0)."},
    {"range", "range=<LENGTH>  The total size to serve (default: to the end of the plugin)."},
};

}  // namespace

extern const FilterInfo offset_filter_info;
const FilterInfo offset_filter_info{
    .name = "offset",
    .description = "nbdkit offset filter: serve a window of the plugin",
    .params = kParams,
    .factory = [] { return std::unique_ptr<Filter>(std::make_unique<OffsetFilter>()); },
};

}  // namespace nbd::filters
