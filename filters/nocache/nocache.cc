// SPDX-License-Identifier: BSD-3-Clause
// nocache filter: hides, emulates or swallows the client's advisory cache requests
// (cachemode=none|emulate|nop), like upstream's nbdkit-nocache-filter; for timing experiments.
#include <array>
#include <string>

#include "nbd/filter.h"

namespace nbd::filters {
namespace {

enum class Mode { None, Emulate, Nop };
constexpr std::array<std::string_view, 3> kModes = {"none", "emulate", "nop"};

// The answer ignores the plugin's own cache support, as upstream's does. Emulate leaves the
// work to the core's boundary above this filter, which reads and discards through pread;
// nop claims native support and drops every request here.
class NocacheConnection final : public FilterConnection {
 public:
  NocacheConnection(std::unique_ptr<Connection> next, Mode m) : FilterConnection(std::move(next)), mode_(m) {}

  Result<CacheMode> can_cache() override {
    switch (mode_) {
      case Mode::None: return CacheMode::None;
      case Mode::Emulate: return CacheMode::Emulate;
      case Mode::Nop: return CacheMode::Native;
    }
    return CacheMode::None;
  }
  // Reached only in nop mode: the core never calls cache on a None or Emulate layer.
  Status cache(uint64_t, uint64_t, uint32_t) override { return ok(); }

 private:
  Mode mode_;
};

class NocacheFilter final : public Filter {
 public:
  Result<bool> config(std::string_view key, std::string_view value) override {
    if (key != "cachemode") return false;
    for (size_t i = 0; i < kModes.size(); ++i)
      if (kModes[i] == value) {
        mode_ = Mode(i);
        return true;
      }
    return make_error(EINVAL, "nocache: cachemode=" + std::string(value) +
                                  ": unknown cache mode (use none, emulate or nop)");
  }
  Result<std::unique_ptr<Connection>> open(const OpenParams& params, const NextOpen& next) override {
    NBD_TRY_ASSIGN(auto below, next(params));
    return std::unique_ptr<Connection>(std::make_unique<NocacheConnection>(std::move(below), mode_));
  }

 private:
  Mode mode_ = Mode::None;
};

constexpr ParamHelp kParams[] = {
    {"cachemode", "cachemode=<MODE>  One of 'none' (default), 'emulate', 'nop'."},
};

}  // namespace

extern const FilterInfo nocache_filter_info;
const FilterInfo nocache_filter_info{
    .name = "nocache",
    .description = "nbdkit nocache filter: disable or change handling of cache requests",
    .params = kParams,
    .factory = [] { return std::unique_ptr<Filter>(std::make_unique<NocacheFilter>()); },
};

}  // namespace nbd::filters
