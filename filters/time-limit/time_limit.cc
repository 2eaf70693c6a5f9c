// SPDX-License-Identifier: BSD-3-Clause
// time-limit filter: each connection may last time-limit=TIME (default 60 s) from its open;
// after that its requests are refused and the client is disconnected, like upstream's
// nbdkit-time-limit-filter (nbdkit 1.42). As upstream, the limit is enforced when the client
// sends a request: an idle client is not disconnected.
#include <chrono>

#include "nbd/filter.h"
#include "nbd/parse.h"

namespace nbd::filters {
namespace {

using Clock = std::chrono::steady_clock;

class TimeLimitConnection final : public FilterConnection {
 public:
  TimeLimitConnection(std::unique_ptr<Connection> next, std::chrono::nanoseconds limit)
      : FilterConnection(std::move(next)), deadline_(Clock::now() + limit) {}

  Status pread(std::span<std::byte> buf, uint64_t offset, uint32_t flags) override {
    NBD_TRY(check());
    return next().pread(buf, offset, flags);
  }
  Status pwrite(std::span<const std::byte> buf, uint64_t offset, uint32_t flags) override {
    NBD_TRY(check());
    return next().pwrite(buf, offset, flags);
  }
  Status flush(uint32_t flags) override {
    NBD_TRY(check());
    return next().flush(flags);
  }
  Status trim(uint64_t count, uint64_t offset, uint32_t flags) override {
    NBD_TRY(check());
    return next().trim(count, offset, flags);
  }
  Status zero(uint64_t count, uint64_t offset, uint32_t flags) override {
    NBD_TRY(check());
    return next().zero(count, offset, flags);
  }
  Status extents(uint64_t count, uint64_t offset, uint32_t flags, ExtentList& out) override {
    NBD_TRY(check());
    return next().extents(count, offset, flags, out);
  }
  Status cache(uint64_t count, uint64_t offset, uint32_t flags) override {
    NBD_TRY(check());
    return next().cache(count, offset, flags);
  }

 private:
  Status check() {
    if (Clock::now() < deadline_) return ok();
    nbd::disconnect_client(true);
    return make_error(ESHUTDOWN, "time-limit: connection time limit exceeded, disconnecting the client");
  }
  const Clock::time_point deadline_;  // set once at open, then only read
};

class TimeLimitFilter final : public Filter {
 public:
  Result<bool> config(std::string_view key, std::string_view value) override {
    if (key != "time-limit") return false;
    NBD_TRY_ASSIGN(uint64_t ns, parse_delay_ns(key, value));
    limit_ = std::chrono::nanoseconds(ns);
    return true;
  }
  Result<std::unique_ptr<Connection>> open(const OpenParams& params, const NextOpen& next) override {
    NBD_TRY_ASSIGN(auto below, next(params));
    return std::unique_ptr<Connection>(std::make_unique<TimeLimitConnection>(std::move(below), limit_));
  }

 private:
  std::chrono::nanoseconds limit_ = std::chrono::seconds(60);
};

constexpr ParamHelp kParams[] = {
    {"time-limit", "time-limit=<NN>[ms]  Limit each connection to this many seconds (default 60)."},
};

}  // namespace

extern const FilterInfo time_limit_filter_info;
const FilterInfo time_limit_filter_info{
    .name = "time-limit",
    .description = "nbdkit time-limit filter: set an overall time limit for each connection",
    .params = kParams,
    .factory = [] { return std::unique_ptr<Filter>(std::make_unique<TimeLimitFilter>()); },
};

}  // namespace nbd::filters
