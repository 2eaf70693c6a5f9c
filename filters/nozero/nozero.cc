// SPDX-License-Identifier: BSD-3-Clause
// nozero filter: turns off or changes the plugin's efficient zeroing (zeromode=,
// fastzeromode=), like upstream's nbdkit-nozero-filter; for testing client fallbacks.
#include <array>
#include <string>

#include "nbd/filter.h"

namespace nbd::filters {
namespace {

enum class ZeroMode { None, Emulate, NoTrim, Plugin };
enum class FastZeroMode { Default, None, Slow, Ignore };

constexpr std::array<std::string_view, 4> kZeroModes = {"none", "emulate", "notrim", "plugin"};
constexpr std::array<std::string_view, 4> kFastZeroModes = {"default", "none", "slow", "ignore"};

// zeromode=none hides zero; emulate answers ZeroMode::Emulate, so the core's boundary above
// this filter writes zeroes through pwrite (and fails fast zero at once, as upstream);
// notrim and plugin pass zero to the plugin, which must zero natively.
class NozeroConnection final : public FilterConnection {
 public:
  NozeroConnection(std::unique_ptr<Connection> next, ZeroMode zm, FastZeroMode fm)
      : FilterConnection(std::move(next)), zm_(zm), fm_(fm) {}

  Result<nbd::ZeroMode> can_zero() override {
    if (zm_ == ZeroMode::None) return nbd::ZeroMode::None;
    if (zm_ == ZeroMode::Emulate) return nbd::ZeroMode::Emulate;
    return next().can_zero();
  }
  Result<bool> can_fast_zero() override {
    if (fm_ == FastZeroMode::Default) return next().can_fast_zero();
    return fm_ != FastZeroMode::None;
  }
  Status zero(uint64_t count, uint64_t offset, uint32_t flags) override {
    if (flags & kFastZero) {
      if (fm_ == FastZeroMode::Slow) return make_error(ENOTSUP, "nozero: fast zero is not supported");
      if (fm_ == FastZeroMode::Ignore) flags &= ~kFastZero;
    }
    if (zm_ == ZeroMode::NoTrim) flags &= ~kMayTrim;
    return next().zero(count, offset, flags);
  }

 private:
  ZeroMode zm_;
  FastZeroMode fm_;
};

template <class Enum, size_t N>
Result<Enum> parse_mode(std::string_view key, std::string_view value,
                        const std::array<std::string_view, N>& names) {
  for (size_t i = 0; i < N; ++i)
    if (names[i] == value) return Enum(i);
  std::string all;
  for (auto n : names) all += (all.empty() ? "" : ", ") + std::string(n);
  return make_error(
      EINVAL, "nozero: " + std::string(key) + "=" + std::string(value) + ": unknown mode (use " + all + ")");
}

class NozeroFilter final : public Filter {
 public:
  Result<bool> config(std::string_view key, std::string_view value) override {
    if (key == "zeromode") {
      NBD_TRY_ASSIGN(zm_, (parse_mode<ZeroMode>(key, value, kZeroModes)));
      return true;
    }
    if (key == "fastzeromode") {
      NBD_TRY_ASSIGN(fm_, (parse_mode<FastZeroMode>(key, value, kFastZeroModes)));
      return true;
    }
    return false;
  }
  Result<std::unique_ptr<Connection>> open(const OpenParams& params, const NextOpen& next) override {
    NBD_TRY_ASSIGN(auto below, next(params));
    if (zm_ == ZeroMode::NoTrim || zm_ == ZeroMode::Plugin) {
      NBD_TRY_ASSIGN(nbd::ZeroMode z, below->can_zero());
      if (z != nbd::ZeroMode::Native)
        return make_error(EINVAL, "nozero: zeromode=" + std::string(kZeroModes[size_t(zm_)]) +
                                      " requires the plugin to support zero");
    }
    return std::unique_ptr<Connection>(std::make_unique<NozeroConnection>(std::move(below), zm_, fm_));
  }

 private:
  ZeroMode zm_ = ZeroMode::None;
  FastZeroMode fm_ = FastZeroMode::Default;
};

constexpr ParamHelp kParams[] = {
    {"zeromode", "zeromode=<MODE>  One of 'none' (default), 'emulate', 'notrim', 'plugin'."},
    {"fastzeromode", "fastzeromode=<MODE>  One of 'default', 'none', 'slow', 'ignore'."},
};

}  // namespace

extern const FilterInfo nozero_filter_info;
const FilterInfo nozero_filter_info{
    .name = "nozero",
    .description = "nbdkit nozero filter: adjust handling of zero requests",
    .params = kParams,
    .factory = [] { return std::unique_ptr<Filter>(std::make_unique<NozeroFilter>()); },
};

}  // namespace nbd::filters
