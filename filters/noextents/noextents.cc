// SPDX-License-Identifier: BSD-3-Clause
// noextents filter: hides the plugin's extents, so the export looks fully allocated, like
// upstream's nbdkit-noextents-filter. The core answers block status with "all data".
#include "nbd/filter.h"

namespace nbd::filters {
namespace {

class NoextentsConnection final : public FilterConnection {
 public:
  using FilterConnection::FilterConnection;
  Result<bool> can_extents() override { return false; }
  // Not reached through the core (it emulates when can_extents is false); answers the same way
  // for anyone calling it directly, without asking the plugin.
  Status extents(uint64_t count, uint64_t offset, uint32_t, ExtentList& out) override {
    return out.add(offset, count, 0);
  }
};

class NoextentsFilter final : public Filter {
 public:
  Result<std::unique_ptr<Connection>> open(const OpenParams& params, const NextOpen& next) override {
    NBD_TRY_ASSIGN(auto below, next(params));
    return std::unique_ptr<Connection>(std::make_unique<NoextentsConnection>(std::move(below)));
  }
};

}  // namespace

extern const FilterInfo noextents_filter_info;
const FilterInfo noextents_filter_info{
    .name = "noextents",
    .description = "nbdkit noextents filter: disable extents (block status) in the plugin",
    .params = {},
    .factory = [] { return std::unique_ptr<Filter>(std::make_unique<NoextentsFilter>()); },
};

}  // namespace nbd::filters
