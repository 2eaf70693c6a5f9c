// SPDX-License-Identifier: BSD-3-Clause
// spinning filter: adds seek delays, from a model of heads moving over the disk, so a RAM disk
// behaves like a spinning one, and advertises the rotational flag; like upstream's
// nbdkit-spinning-filter (1.40). The model is in heads.h.
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <string>

#include "heads.h"
#include "nbd/filter.h"
#include "nbd/parse.h"

namespace nbd::filters {
namespace {

using spinning::Heads;
using spinning::SeekCurve;

struct Settings {
  unsigned heads = 1;
  bool separate = false;
  double min = 0.01, half = 0.2, max = 0.5;  // seconds
};

// Reads, writes and zeroes move the heads to the request's offset first (as upstream; trim,
// block status, cache and flush do not seek). Heads are per connection, so the filter turns
// multi-conn off, as upstream does.
class SpinningConnection final : public FilterConnection {
 public:
  SpinningConnection(std::unique_ptr<Connection> next, uint64_t size, const Settings& s,
                     const SeekCurve& curve)
      : FilterConnection(std::move(next)), heads_(size, s.heads, s.separate), curve_(curve) {}

  Result<bool> is_rotational() override { return true; }
  Result<bool> can_multi_conn() override { return false; }

  Status pread(std::span<std::byte> buf, uint64_t offset, uint32_t flags) override {
    NBD_TRY(seek(offset));
    return next().pread(buf, offset, flags);
  }
  Status pwrite(std::span<const std::byte> buf, uint64_t offset, uint32_t flags) override {
    NBD_TRY(seek(offset));
    return next().pwrite(buf, offset, flags);
  }
  Status zero(uint64_t count, uint64_t offset, uint32_t flags) override {
    NBD_TRY(seek(offset));
    return next().zero(count, offset, flags);
  }

 private:
  // The arm's lock is held through the sleep: requests for the same arm wait their turn.
  Status seek(uint64_t offset) {
    if (heads_.count() == 0) return ok();
    std::lock_guard l(heads_.arm_for(offset));
    double t = heads_.move_to(offset, curve_);
    return t > 0 ? nbd::nanosleep(uint64_t(t * 1e9)) : ok();
  }

  Heads heads_;
  const SeekCurve& curve_;
};

Result<double> parse_seconds(std::string_view key, std::string_view value) {
  std::string s(value);
  char* end = nullptr;
  errno = 0;
  double d = s.empty() ? NAN : std::strtod(s.c_str(), &end);
  if (s.empty() || *end != '\0' || errno != 0 || !std::isfinite(d) || d < 0)
    return make_error(EINVAL,
                      "spinning: " + std::string(key) + "=" + s + ": must be a number of seconds >= 0");
  return d;
}

class SpinningFilter final : public Filter {
 public:
  Result<bool> config(std::string_view key, std::string_view value) override {
    if (key == "heads") {
      NBD_TRY_ASSIGN(uint32_t n, parse_uint32(key, value));
      if (n == 0 || n > 64)
        return make_error(EINVAL, "spinning: heads=" + std::string(value) + ": must be in the range 1..64");
      s_.heads = n;
    } else if (key == "separate-heads") {
      NBD_TRY_ASSIGN(s_.separate, parse_bool(key, value));
    } else if (key == "min-seek-time") {
      NBD_TRY_ASSIGN(s_.min, parse_seconds(key, value));
    } else if (key == "half-seek-time") {
      NBD_TRY_ASSIGN(s_.half, parse_seconds(key, value));
    } else if (key == "max-seek-time") {
      NBD_TRY_ASSIGN(s_.max, parse_seconds(key, value));
    } else {
      return false;
    }
    return true;
  }
  Status config_complete() override {
    curve_ = SeekCurve(s_.min, s_.half, s_.max);
    if (!curve_.stable(s_.min, s_.half, s_.max))
      return make_error(
          EINVAL,
          "spinning: min-seek-time, half-seek-time and max-seek-time give an unstable seek curve "
          "(try other values)");
    return ok();
  }
  Result<std::unique_ptr<Connection>> open(const OpenParams& params, const NextOpen& next) override {
    NBD_TRY_ASSIGN(auto below, next(params));
    NBD_TRY_ASSIGN(uint64_t size, below->get_size());
    return std::unique_ptr<Connection>(
        std::make_unique<SpinningConnection>(std::move(below), size, s_, curve_));
  }

 private:
  Settings s_;
  SeekCurve curve_{0.01, 0.2, 0.5};
};

constexpr ParamHelp kParams[] = {
    {"heads", "heads=<N>  Number of heads, 1..64 (default 1)."},
    {"separate-heads", "separate-heads=<BOOL>  Heads move independently (default false)."},
    {"min-seek-time", "min-seek-time=<SECS>  Track-to-track seek time (default 0.01)."},
    {"half-seek-time", "half-seek-time=<SECS>  Seek time across half the disk (default 0.2)."},
    {"max-seek-time", "max-seek-time=<SECS>  Seek time across the whole disk (default 0.5)."},
};

}  // namespace

extern const FilterInfo spinning_filter_info;
const FilterInfo spinning_filter_info{
    .name = "spinning",
    .description = "nbdkit spinning filter: add seek delays to simulate a spinning disk",
    .params = kParams,
    .factory = [] { return std::unique_ptr<Filter>(std::make_unique<SpinningFilter>()); },
};

}  // namespace nbd::filters
