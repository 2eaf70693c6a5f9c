// SPDX-License-Identifier: BSD-3-Clause
// offset filter: serves the window [offset, offset+range) of the layer below, like upstream's
// nbdkit-offset-filter. Requests and extents are shifted (vdisk::WindowConnection, shared with
// the partition and tar filters); the window must fit the plugin, checked when a client opens.
#include <optional>

#include "disk/window_connection.h"
#include "nbd/filter.h"
#include "nbd/parse.h"

namespace nbd::filters {
namespace {

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
    NBD_TRY_ASSIGN(uint64_t real, below->get_size());
    uint64_t size;
    if (range_) {
      if (offset_ > real || *range_ > real - offset_)
        return make_error(EINVAL, "offset: offset+range (" + std::to_string(offset_) + "+" +
                                      std::to_string(*range_) + ") is larger than the real size (" +
                                      std::to_string(real) + ") of the underlying file or device");
      size = *range_;
    } else {
      if (offset_ > real)
        return make_error(EINVAL, "offset: offset (" + std::to_string(offset_) +
                                      ") is larger than the real size (" + std::to_string(real) +
                                      ") of the underlying file or device");
      size = real - offset_;
    }
    return std::unique_ptr<Connection>(
        std::make_unique<vdisk::WindowConnection>(std::move(below), offset_, size));
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
