// SPDX-License-Identifier: BSD-3-Clause
// retry filter: when a request fails, waits, reopens the layer below (a fresh context of the
// next filter or the plugin) and retries the request, like upstream's nbdkit-retry-filter.
#include <atomic>
#include <mutex>
#include <shared_mutex>
#include <string>

#include "nbd/filter.h"
#include "nbd/log.h"
#include "nbd/parse.h"

namespace nbd::filters {
namespace {

struct RetryConfig {
  uint32_t retries = 5;
  uint64_t delay_ns = 2'000'000'000;
  bool exponential = true;
  bool force_readonly = false;  // retry-readonly: reopen read-only, refuse writes after a reopen
};

// The back-off state of one request: how often it was retried and how long the next wait is.
// Exponential back-off stops doubling here (about 36 years), so the delay never overflows.
constexpr uint64_t kMaxDelayNs = uint64_t(1) << 60;

struct Attempt {
  uint32_t retry = 0;
  uint64_t delay_ns;
};

// Requests run in parallel under a shared lock; a reopen takes it exclusively, so no request
// uses next() while it is swapped. generation_ counts reopens: a request that failed before
// another request's reopen just tries again on the fresh context instead of reopening twice.
class RetryConnection final : public FilterConnection {
 public:
  RetryConnection(std::unique_ptr<Connection> next, const RetryConfig& cfg, NextOpen open_below, OpenParams p)
      : FilterConnection(std::move(next)),
        cfg_(cfg),
        open_below_(std::move(open_below)),
        params_(std::move(p)) {
    params_.readonly = params_.readonly || cfg_.force_readonly;
  }

  Status pread(std::span<std::byte> buf, uint64_t offset, uint32_t flags) override {
    return run("pread", [&](Connection& n) -> Status {
      NBD_TRY(in_range(n, buf.size(), offset, EIO));
      return n.pread(buf, offset, flags);
    });
  }
  Status pwrite(std::span<const std::byte> buf, uint64_t offset, uint32_t flags) override {
    if (read_only_now())
      return make_error(EROFS, "retry: pwrite refused: reopened read-only (retry-readonly)");
    return run("pwrite", [&](Connection& n) -> Status {
      NBD_TRY(writable(n, buf.size(), offset, flags, n.can_write()));
      return n.pwrite(buf, offset, flags);
    });
  }
  Status trim(uint64_t count, uint64_t offset, uint32_t flags) override {
    if (read_only_now()) return make_error(EROFS, "retry: trim refused: reopened read-only (retry-readonly)");
    return run("trim", [&](Connection& n) -> Status {
      NBD_TRY(writable(n, count, offset, flags, n.can_trim()));
      return n.trim(count, offset, flags);
    });
  }
  Status zero(uint64_t count, uint64_t offset, uint32_t flags) override {
    if (read_only_now()) return make_error(EROFS, "retry: zero refused: reopened read-only (retry-readonly)");
    return run("zero", [&](Connection& n) -> Status {
      auto z = n.can_zero();
      NBD_TRY(writable(n, count, offset, flags, Result<bool>(z && *z != ZeroMode::None)));
      auto fast = n.can_fast_zero();
      if ((flags & kFastZero) && !(fast && *fast))
        return make_error(ENOTSUP, "retry: fast zero not supported by the reopened layer");
      return n.zero(count, offset, flags);
    });
  }
  Status flush(uint32_t flags) override {
    return run("flush", [&](Connection& n) -> Status {
      auto f = n.can_flush();
      if (!(f && *f)) return make_error(EIO, "retry: flush not supported by the reopened layer");
      return n.flush(flags);
    });
  }
  Status extents(uint64_t count, uint64_t offset, uint32_t flags, ExtentList& out) override {
    return run("extents", [&](Connection& n) -> Status {
      NBD_TRY(in_range(n, count, offset, EIO));
      auto e = n.can_extents();
      if (!(e && *e)) return make_error(EIO, "retry: extents not supported by the reopened layer");
      // A failed attempt may have added some extents: collect each attempt in a fresh list.
      ExtentList attempt(out.start(), out.end());
      NBD_TRY(n.extents(count, offset, flags, attempt));
      for (const Extent& x : attempt.extents()) NBD_TRY(out.add(x.offset, x.length, x.flags));
      return ok();
    });
  }
  Status cache(uint64_t count, uint64_t offset, uint32_t flags) override {
    return run("cache", [&](Connection& n) -> Status {
      NBD_TRY(in_range(n, count, offset, EIO));
      auto c = n.can_cache();
      if (!(c && *c != CacheMode::None))
        return make_error(EIO, "retry: cache not supported by the reopened layer");
      return n.cache(count, offset, flags);
    });
  }

  // For tests: how often this connection reopened the layer below.
  uint32_t reopens_for_test() const { return reopens_.load(); }

 private:
  bool read_only_now() const { return cfg_.force_readonly && reopens_.load(std::memory_order_relaxed) > 0; }

  // The reopened context may be smaller than the one the client was told about.
  static Status in_range(Connection& n, uint64_t count, uint64_t offset, int errnum) {
    NBD_TRY_ASSIGN(uint64_t size, n.get_size());
    if (offset > size || count > size - offset)
      return make_error(errnum, "retry: request beyond the end of the reopened layer");
    return ok();
  }
  static Status writable(Connection& n, uint64_t count, uint64_t offset, uint32_t flags, Result<bool> can) {
    NBD_TRY(in_range(n, count, offset, ENOSPC));
    if (!(can && *can)) return make_error(EROFS, "retry: the reopened layer is not writable");
    auto fua = n.can_fua();
    if ((flags & kFua) && !(fua && *fua != FuaMode::None))
      return make_error(EIO, "retry: FUA not supported by the reopened layer");
    return ok();
  }

  template <class Op>
  Status run(const char* what, Op&& op) {
    Attempt a{0, cfg_.delay_ns};
    for (;;) {
      uint64_t seen;
      Status s;
      {
        std::shared_lock l(mu_);
        seen = generation_;
        s = open_ ? op(next()) : Status(make_error(EIO, "retry: the layer below could not be reopened"));
      }
      if (s) return s;
      if (!recover(what, s.error(), seen, a)) return s;
    }
  }

  // Waits, then reopens the layer below unless another request already did since `seen`.
  // Returns true to try the request again, false to give up (the caller returns its error).
  bool recover(const char* what, const Error& err, uint64_t seen, Attempt& a) {
    for (;;) {
      if (a.retry >= cfg_.retries) {
        log::debug("retry: %s: could not recover after %u retries", what, unsigned(cfg_.retries));
        return false;
      }
      log::debug("retry: %s failed (%s); retry %u in %.3f s", what, err.message.c_str(), a.retry + 1,
                 double(a.delay_ns) / 1e9);
      if (!nbd::nanosleep(a.delay_ns)) return false;
      ++a.retry;
      if (cfg_.exponential && a.delay_ns < kMaxDelayNs) a.delay_ns *= 2;

      std::unique_lock l(mu_);
      if (generation_ != seen && open_) return true;
      seen = ++generation_;
      reopens_.fetch_add(1, std::memory_order_relaxed);
      if (open_) {
        open_ = false;
        auto old = replace_next(nullptr);
        // A context that fails to finalize may have lost data: treat it as the request failing.
        if (!old->finalize()) return false;
      }
      auto fresh = open_below_(params_);
      if (fresh && *fresh) {
        replace_next(std::move(*fresh));
        open_ = true;
        return true;
      }
      log::debug("retry: reopen failed: %s", fresh ? "no connection" : fresh.error().message.c_str());
    }
  }

  const RetryConfig& cfg_;
  NextOpen open_below_;
  OpenParams params_;
  std::shared_mutex mu_;
  uint64_t generation_ = 0;  // guarded by mu_
  bool open_ = true;         // guarded by mu_: false after a failed reopen, next() is null then
  std::atomic<uint32_t> reopens_{0};
};

class RetryFilter final : public Filter {
 public:
  Result<bool> config(std::string_view key, std::string_view value) override {
    if (key == "retries") {
      NBD_TRY_ASSIGN(cfg_.retries, parse_uint32(key, value));
    } else if (key == "retry-delay") {
      NBD_TRY_ASSIGN(cfg_.delay_ns, parse_delay_ns(key, value));
      if (cfg_.delay_ns == 0)
        return make_error(EINVAL, "retry-delay=" + std::string(value) + ": cannot be 0");
    } else if (key == "retry-exponential") {
      NBD_TRY_ASSIGN(cfg_.exponential, parse_bool(key, value));
    } else if (key == "retry-readonly") {
      NBD_TRY_ASSIGN(cfg_.force_readonly, parse_bool(key, value));
    } else {
      return false;
    }
    return true;
  }
  Result<std::unique_ptr<Connection>> open(const OpenParams& params, const NextOpen& next) override {
    NBD_TRY_ASSIGN(auto below, next(params));
    return std::unique_ptr<Connection>(
        std::make_unique<RetryConnection>(std::move(below), cfg_, next, params));
  }

 private:
  RetryConfig cfg_;
};

constexpr ParamHelp kParams[] = {
    {"retries", "retries=<N>  Number of retries (default: 5)."},
    {"retry-delay", "retry-delay=<N>[ms]  Seconds (or ms) to wait before retrying (default: 2)."},
    {"retry-exponential", "retry-exponential=yes|no  Exponential back-off (default: yes)."},
    {"retry-readonly", "retry-readonly=yes|no  Force read-only on failure (default: no)."},
};

}  // namespace

extern const FilterInfo retry_filter_info;
const FilterInfo retry_filter_info{
    .name = "retry",
    .description = "nbdkit retry filter: reopen the plugin and retry requests on error",
    .params = kParams,
    .factory = [] { return std::unique_ptr<Filter>(std::make_unique<RetryFilter>()); },
};

}  // namespace nbd::filters
