// SPDX-License-Identifier: BSD-3-Clause
// retry-request filter: retries a single failed request (and, unless told not to, a failed
// open) after a fixed delay, without reopening anything, like upstream's
// nbdkit-retry-request-filter. Stateless per request, so requests stay parallel.
#include <string>

#include "nbd/filter.h"
#include "nbd/log.h"
#include "nbd/parse.h"

namespace nbd::filters {
namespace {

struct RetryRequestConfig {
  uint32_t retries = 2;
  uint64_t delay_ns = 2'000'000'000;
  bool retry_open = true;
};

// Runs op up to 1 + retries times, waiting delay_ns before each retry; returns the last result.
template <class R, class Op>
R with_retries(const RetryRequestConfig& cfg, const char* what, Op&& op) {
  R r = op();
  for (uint32_t i = 1; !r && i <= cfg.retries; ++i) {
    log::debug("retry-request: %s failed (%s); retry %u/%u in %.3f s", what, r.error().message.c_str(), i,
               unsigned(cfg.retries), double(cfg.delay_ns) / 1e9);
    if (!nbd::nanosleep(cfg.delay_ns)) break;  // shutting down: keep the request's own error
    r = op();
  }
  return r;
}

class RetryRequestConnection final : public FilterConnection {
 public:
  RetryRequestConnection(std::unique_ptr<Connection> next, const RetryRequestConfig& cfg)
      : FilterConnection(std::move(next)), cfg_(cfg) {}

  Status pread(std::span<std::byte> buf, uint64_t offset, uint32_t flags) override {
    return retry("pread", [&] { return next().pread(buf, offset, flags); });
  }
  Status pwrite(std::span<const std::byte> buf, uint64_t offset, uint32_t flags) override {
    return retry("pwrite", [&] { return next().pwrite(buf, offset, flags); });
  }
  Status flush(uint32_t flags) override {
    return retry("flush", [&] { return next().flush(flags); });
  }
  Status trim(uint64_t count, uint64_t offset, uint32_t flags) override {
    return retry("trim", [&] { return next().trim(count, offset, flags); });
  }
  Status zero(uint64_t count, uint64_t offset, uint32_t flags) override {
    return retry("zero", [&] { return next().zero(count, offset, flags); });
  }
  Status extents(uint64_t count, uint64_t offset, uint32_t flags, ExtentList& out) override {
    // A failed attempt may have added extents: collect each attempt in a fresh list.
    ExtentList attempt(out.start(), out.end());
    NBD_TRY(retry("extents", [&] {
      attempt.reset(out.start(), out.end());
      return next().extents(count, offset, flags, attempt);
    }));
    for (const Extent& x : attempt.extents()) NBD_TRY(out.add(x.offset, x.length, x.flags));
    return ok();
  }
  Status cache(uint64_t count, uint64_t offset, uint32_t flags) override {
    return retry("cache", [&] { return next().cache(count, offset, flags); });
  }

 private:
  template <class Op>
  Status retry(const char* what, Op&& op) {
    return with_retries<Status>(cfg_, what, op);
  }
  const RetryRequestConfig& cfg_;
};

class RetryRequestFilter final : public Filter {
 public:
  Result<bool> config(std::string_view key, std::string_view value) override {
    if (key == "retry-request-retries") {
      NBD_TRY_ASSIGN(cfg_.retries, parse_uint32(key, value));
    } else if (key == "retry-request-delay") {
      NBD_TRY_ASSIGN(cfg_.delay_ns, parse_delay_ns(key, value));
      if (cfg_.delay_ns == 0)
        return make_error(EINVAL, "retry-request-delay=" + std::string(value) + ": cannot be 0");
    } else if (key == "retry-request-open") {
      NBD_TRY_ASSIGN(cfg_.retry_open, parse_bool(key, value));
    } else {
      return false;
    }
    return true;
  }
  Result<std::unique_ptr<Connection>> open(const OpenParams& params, const NextOpen& next) override {
    using OpenResult = Result<std::unique_ptr<Connection>>;
    auto open_below = [&] { return next(params); };
    NBD_TRY_ASSIGN(auto below,
                   cfg_.retry_open ? with_retries<OpenResult>(cfg_, "open", open_below) : open_below());
    return std::unique_ptr<Connection>(std::make_unique<RetryRequestConnection>(std::move(below), cfg_));
  }

 private:
  RetryRequestConfig cfg_;
};

constexpr ParamHelp kParams[] = {
    {"retry-request-retries", "retry-request-retries=<N>  Number of retries (default: 2)."},
    {"retry-request-delay",
     "retry-request-delay=<N>[ms]  Seconds (or ms) to wait before retrying (default: 2)."},
    {"retry-request-open", "retry-request-open=false  Do not retry opening the plugin (default: true)."},
};

}  // namespace

extern const FilterInfo retry_request_filter_info;
const FilterInfo retry_request_filter_info{
    .name = "retry-request",
    .description = "nbdkit retry-request filter: retry single requests on error",
    .params = kParams,
    .factory = [] { return std::unique_ptr<Filter>(std::make_unique<RetryRequestFilter>()); },
};

}  // namespace nbd::filters
