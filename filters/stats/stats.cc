// SPDX-License-Identifier: BSD-3-Clause
// stats filter: counts operations, bytes, time and request sizes/alignments, and writes them
// to statsfile= when the server exits, like upstream's nbdkit-stats-filter. Counters are
// relaxed atomics, so requests in parallel never wait for each other.
#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <bit>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include "nbd/filter.h"
#include "nbd/log.h"
#include "nbd/parse.h"
#include "request_clock.h"
#include "stats_report.h"

namespace nbd::filters::stats {
namespace {

enum Op { kRead, kWrite, kTrim, kZero, kExtents, kCache, kFlush, kOps };
constexpr std::array<std::string_view, kOps> kNames = {"read",    "write", "trim", "zero",
                                                       "extents", "cache", "flush"};

using Clock = std::chrono::steady_clock;

struct LiveHistogram {
  std::atomic<uint64_t> reqs[SizeHistogram::kBuckets][SizeHistogram::kAligns];
  std::atomic<uint64_t> bytes[SizeHistogram::kBuckets];
};

// One cache line each: reads and writes on two cores do not bounce one line between them.
struct alignas(64) LiveOp {
  std::atomic<uint64_t> ops{0}, bytes{0}, usecs{0};
  std::unique_ptr<LiveHistogram> hist;  // null for flush, or with statsthreshold=0
};

class Counters {
 public:
  explicit Counters(bool histograms) {
    clock_.calibrate();
    for (int op = 0; op < kOps; ++op)
      if (histograms && op != kFlush) ops_[op].hist = std::make_unique<LiveHistogram>();
  }

  // Counted before the call, whatever its outcome, as upstream does.
  void saw_request(Op op, uint64_t count, uint64_t offset) {
    LiveHistogram* h = ops_[op].hist.get();
    if (!h) return;
    int bits = count ? 63 - std::countl_zero(count) : 0;
    int align = offset ? 1 + std::countr_zero(offset) : 0;
    h->reqs[bits][align].fetch_add(1, std::memory_order_relaxed);
    h->bytes[bits].fetch_add(count, std::memory_order_relaxed);
  }
  const RequestClock& clock() const { return clock_; }
  void done(Op op, uint64_t count, uint64_t start) {
    // Whole microseconds per request, as upstream sums them; most requests take less than
    // one, and adding 0 would still cost an atomic operation.
    uint64_t us = clock_.whole_us(start, clock_.now());
    LiveOp& o = ops_[op];
    o.ops.fetch_add(1, std::memory_order_relaxed);
    o.bytes.fetch_add(count, std::memory_order_relaxed);
    if (us) o.usecs.fetch_add(us, std::memory_order_relaxed);
  }

  std::string report(uint64_t elapsed_usecs, double threshold) const {
    std::array<SizeHistogram, kOps> hists{};
    std::array<OpReport, kOps> reports;
    uint64_t total_ops = 0, total_bytes = 0;
    for (int op = 0; op < kOps; ++op) {
      const LiveOp& o = ops_[op];
      reports[op] = {kNames[op], o.ops.load(), o.bytes.load(), o.usecs.load(), nullptr};
      if (op != kCache) total_ops += reports[op].ops;
      if (op <= kZero) total_bytes += reports[op].bytes;
      if (!o.hist) continue;
      for (int b = 0; b < SizeHistogram::kBuckets; ++b) {
        hists[op].bytes[b] = o.hist->bytes[b].load();
        for (int a = 0; a < SizeHistogram::kAligns; ++a) hists[op].reqs[b][a] = o.hist->reqs[b][a].load();
      }
      reports[op].hist = &hists[op];
    }
    return format_report(reports, total_ops, total_bytes, elapsed_usecs, threshold);
  }

 private:
  std::array<LiveOp, kOps> ops_;
  RequestClock clock_;
};

class StatsConnection final : public FilterConnection {
 public:
  StatsConnection(std::unique_ptr<Connection> next, Counters& c) : FilterConnection(std::move(next)), c_(c) {}

  Status pread(std::span<std::byte> buf, uint64_t offset, uint32_t flags) override {
    return timed(kRead, buf.size(), offset, [&] { return next().pread(buf, offset, flags); });
  }
  Status pwrite(std::span<const std::byte> buf, uint64_t offset, uint32_t flags) override {
    return timed(kWrite, buf.size(), offset, [&] { return next().pwrite(buf, offset, flags); });
  }
  Status trim(uint64_t count, uint64_t offset, uint32_t flags) override {
    return timed(kTrim, count, offset, [&] { return next().trim(count, offset, flags); });
  }
  Status zero(uint64_t count, uint64_t offset, uint32_t flags) override {
    return timed(kZero, count, offset, [&] { return next().zero(count, offset, flags); });
  }
  // Counts the range asked about, not what the plugin answers, as upstream.
  Status extents(uint64_t count, uint64_t offset, uint32_t flags, ExtentList& out) override {
    return timed(kExtents, count, offset, [&] { return next().extents(count, offset, flags, out); });
  }
  Status cache(uint64_t count, uint64_t offset, uint32_t flags) override {
    return timed(kCache, count, offset, [&] { return next().cache(count, offset, flags); });
  }
  Status flush(uint32_t flags) override {
    return timed(kFlush, 0, 0, [&] { return next().flush(flags); });
  }

 private:
  template <class F>
  Status timed(Op op, uint64_t count, uint64_t offset, F&& call) {
    c_.saw_request(op, count, offset);
    uint64_t start = c_.clock().now();
    Status s = call();
    if (s) c_.done(op, count, start);
    return s;
  }
  Counters& c_;
};

class StatsFilter final : public Filter {
 public:
  Result<bool> config(std::string_view key, std::string_view value) override {
    if (key == "statsfile") {
      path_ = std::string(value);
      if (!path_.empty() && path_[0] != '/') {
        char cwd[4096];
        if (!getcwd(cwd, sizeof cwd)) return errno_error("statsfile: getcwd");
        path_ = std::string(cwd) + "/" + path_;
      }
    } else if (key == "statsappend") {
      NBD_TRY_ASSIGN(append_, parse_bool(key, value));
    } else if (key == "statsthreshold") {
      NBD_TRY_ASSIGN(int64_t t, parse_int64(key, value));
      if (t < 0 || t > 100)
        return make_error(EINVAL,
                          "statsthreshold=" + std::string(value) + ": must be between 0 and 100 (percent)");
      threshold_ = double(t) / 100;
    } else {
      return false;
    }
    return true;
  }
  Status config_complete() override {
    if (path_.empty()) return make_error(EINVAL, "stats filter requires the statsfile parameter");
    return ok();
  }
  Status get_ready(ThreadModel) override {
    int fd = ::open(path_.c_str(), O_CLOEXEC | O_WRONLY | O_CREAT | (append_ ? O_APPEND : O_TRUNC), 0666);
    if (fd < 0) return errno_error("statsfile=" + path_ + ": open");
    fp_ = fdopen(fd, append_ ? "a" : "w");
    if (!fp_) {
      int e = errno;
      ::close(fd);
      return errno_error("statsfile=" + path_ + ": fdopen", e);
    }
    counters_ = std::make_unique<Counters>(threshold_ > 0);
    start_ = Clock::now();
    return ok();
  }
  Result<std::unique_ptr<Connection>> open(const OpenParams& params, const NextOpen& next) override {
    NBD_TRY_ASSIGN(auto below, next(params));
    return std::unique_ptr<Connection>(std::make_unique<StatsConnection>(std::move(below), *counters_));
  }
  void unload() override {
    if (!fp_) return;
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start_).count();
    if (us > 0) {
      std::string text = counters_->report(uint64_t(us), threshold_);
      std::fwrite(text.data(), 1, text.size(), fp_);
    }
    if (std::fclose(fp_) != 0) log::error("statsfile=%s: %s", path_.c_str(), std::strerror(errno));
    fp_ = nullptr;
  }

 private:
  std::string path_;
  bool append_ = false;
  double threshold_ = 0.95;
  FILE* fp_ = nullptr;
  std::unique_ptr<Counters> counters_;
  Clock::time_point start_;
};

constexpr ParamHelp kParams[] = {
    {"statsfile", "statsfile=<FILE>  (required) The file to place the log in."},
    {"statsappend", "statsappend=<BOOL>  True to append to the log (default false)."},
    {"statsthreshold", "statsthreshold=<PERCENT>  Share of requests the size breakdown covers (default 95)."},
};

}  // namespace
}  // namespace nbd::filters::stats

namespace nbd::filters {
extern const FilterInfo stats_filter_info;
const FilterInfo stats_filter_info{
    .name = "stats",
    .description = "nbdkit stats filter: display statistics about operations",
    .params = stats::kParams,
    .factory = [] { return std::unique_ptr<Filter>(std::make_unique<stats::StatsFilter>()); },
};
}  // namespace nbd::filters
