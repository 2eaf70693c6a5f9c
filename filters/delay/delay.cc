// SPDX-License-Identifier: BSD-3-Clause
// delay filter: sleeps before passing each kind of request on (rdelay=, wdelay=, delay-*=), to
// simulate a slow or remote server, like upstream's nbdkit-delay-filter.
#include "nbd/filter.h"
#include "nbd/parse.h"

namespace nbd::filters {
namespace {

struct Delays {
  uint64_t read = 0, write = 0, zero = 0, trim = 0, extents = 0, cache = 0, open = 0, close = 0;  // ns
  bool fast_zero = true;  // false: fast zero requests fail at once instead of waiting
};

// Fails with ESHUTDOWN when the server starts shutting down during the sleep, as upstream.
Status pause(uint64_t ns) { return ns > 0 ? nbd::nanosleep(ns) : ok(); }

class DelayConnection final : public FilterConnection {
 public:
  DelayConnection(std::unique_ptr<Connection> next, const Delays& d)
      : FilterConnection(std::move(next)), d_(d) {}
  // Upstream delays close only for clients that disconnect gracefully; the API does not tell
  // us which, so every close is delayed.
  ~DelayConnection() override { (void)pause(d_.close); }

  Status pread(std::span<std::byte> buf, uint64_t offset, uint32_t flags) override {
    NBD_TRY(pause(d_.read));
    return next().pread(buf, offset, flags);
  }
  Status pwrite(std::span<const std::byte> buf, uint64_t offset, uint32_t flags) override {
    NBD_TRY(pause(d_.write));
    return next().pwrite(buf, offset, flags);
  }
  // A fast zero must not be slow, so with delay-fast-zero=false it fails at once instead.
  Status zero(uint64_t count, uint64_t offset, uint32_t flags) override {
    if ((flags & kFastZero) && d_.zero > 0 && !d_.fast_zero)
      return make_error(ENOTSUP, "delay: fast zero refused (delay-fast-zero=false)");
    NBD_TRY(pause(d_.zero));
    return next().zero(count, offset, flags);
  }
  Status trim(uint64_t count, uint64_t offset, uint32_t flags) override {
    NBD_TRY(pause(d_.trim));
    return next().trim(count, offset, flags);
  }
  Status extents(uint64_t count, uint64_t offset, uint32_t flags, ExtentList& out) override {
    NBD_TRY(pause(d_.extents));
    return next().extents(count, offset, flags, out);
  }
  Status cache(uint64_t count, uint64_t offset, uint32_t flags) override {
    NBD_TRY(pause(d_.cache));
    return next().cache(count, offset, flags);
  }

 private:
  const Delays& d_;
};

class DelayFilter final : public Filter {
 public:
  Result<bool> config(std::string_view key, std::string_view value) override {
    if (key == "delay-fast-zero") {
      NBD_TRY_ASSIGN(d_.fast_zero, parse_bool(key, value));
      return true;
    }
    uint64_t* targets[3] = {};
    if (key == "rdelay" || key == "delay-read")
      targets[0] = &d_.read;
    else if (key == "wdelay")
      targets[0] = &d_.write, targets[1] = &d_.zero, targets[2] = &d_.trim;
    else if (key == "delay-write")
      targets[0] = &d_.write;
    else if (key == "delay-zero")
      targets[0] = &d_.zero;
    else if (key == "delay-trim")
      targets[0] = &d_.trim;
    else if (key == "delay-extents")
      targets[0] = &d_.extents;
    else if (key == "delay-cache")
      targets[0] = &d_.cache;
    else if (key == "delay-open")
      targets[0] = &d_.open;
    else if (key == "delay-close")
      targets[0] = &d_.close;
    else
      return false;
    NBD_TRY_ASSIGN(uint64_t ns, parse_delay_ns(key, value));
    for (uint64_t* t : targets)
      if (t) *t = ns;
    return true;
  }
  Result<std::unique_ptr<Connection>> open(const OpenParams& params, const NextOpen& next) override {
    NBD_TRY(pause(d_.open));
    NBD_TRY_ASSIGN(auto below, next(params));
    return std::unique_ptr<Connection>(std::make_unique<DelayConnection>(std::move(below), d_));
  }

 private:
  Delays d_;
};

constexpr ParamHelp kParams[] = {
    {"rdelay", "rdelay=<NN>[ms]  Read delay in seconds/milliseconds (also delay-read=)."},
    {"wdelay", "wdelay=<NN>[ms]  Write, zero and trim delay in seconds/milliseconds."},
    {"delay-write", "delay-write=<NN>[ms]  Write delay in seconds/milliseconds."},
    {"delay-zero", "delay-zero=<NN>[ms]  Zero delay in seconds/milliseconds."},
    {"delay-trim", "delay-trim=<NN>[ms]  Trim delay in seconds/milliseconds."},
    {"delay-extents", "delay-extents=<NN>[ms]  Extents delay in seconds/milliseconds."},
    {"delay-cache", "delay-cache=<NN>[ms]  Cache delay in seconds/milliseconds."},
    {"delay-fast-zero", "delay-fast-zero=<BOOL>  Delay fast zero requests (default true)."},
    {"delay-open", "delay-open=<NN>[ms]  Open delay in seconds/milliseconds."},
    {"delay-close", "delay-close=<NN>[ms]  Close delay in seconds/milliseconds."},
};

}  // namespace

extern const FilterInfo delay_filter_info;
const FilterInfo delay_filter_info{
    .name = "delay",
    .description = "nbdkit delay filter: inject delays into requests",
    .params = kParams,
    .factory = [] { return std::unique_ptr<Filter>(std::make_unique<DelayFilter>()); },
};

}  // namespace nbd::filters
