// SPDX-License-Identifier: BSD-3-Clause
// scan filter: prefetches the whole disk in the background while clients are connected, as
// upstream's nbdkit-scan-filter: one thread sends cache requests of scan-size bytes from the start
// of the disk to its end through a connected client's context (so --filter=cache or
// --filter=cow cow-on-cache=true below it fill up, or the plugin's own .cache runs). With
// scan-ahead (the default) a client read past the scan point moves the scan to just after the
// read. Only the default export is scanned, only under the parallel thread model (else it says so
// and does nothing), only while at least one client is connected; scan-clock decides whether a
// new client after none resumes or restarts, scan-forever whether the scan starts over at the end.
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "nbd/filter.h"
#include "nbd/log.h"
#include "nbd/parse.h"

namespace nbd::filters {
namespace {

struct ScanConfig {
  bool ahead = true, clock = true, forever = false;
  uint64_t size = 2 << 20;
};

class ScanConnection;

// What the clients share: the scan point and the thread that moves it.
class Scanner {
 public:
  explicit Scanner(const ScanConfig& cfg) : cfg_(cfg) {}
  ~Scanner() { stop(); }
  void attach(ScanConnection* c, uint64_t disk_size);
  // Forgets c, waiting until the thread is not using it.
  void detach(ScanConnection* c);
  // A client read [offset, end): with scan-ahead the scan skips past it.
  void client_read(uint64_t end) {
    if (!cfg_.ahead) return;
    uint64_t to = (end + cfg_.size - 1) / cfg_.size * cfg_.size;
    uint64_t p = pos_.load();
    while (to > p && !pos_.compare_exchange_weak(p, to)) {
    }
  }
  void stop() {
    {
      std::lock_guard l(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void run();
  bool work_left() const { return !conns_.empty() && !done_; }

  const ScanConfig cfg_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<ScanConnection*> conns_;  // connected clients of the default export
  ScanConnection* busy_ = nullptr;      // the one the thread is sending a cache request through
  uint64_t size_ = 0;
  std::atomic<uint64_t> pos_{0};  // the next byte to prefetch
  bool done_ = false, stop_ = false;
  std::thread thread_;
};

class ScanConnection final : public FilterConnection {
 public:
  ScanConnection(std::unique_ptr<Connection> next, Scanner& s) : FilterConnection(std::move(next)), s_(s) {}
  ~ScanConnection() override { leave(); }
  // The core finalizes the layers below right after this one: the scan must be off them by then.
  Status finalize() override {
    leave();
    return ok();
  }
  Status pread(std::span<std::byte> buf, uint64_t offset, uint32_t flags) override {
    s_.client_read(offset + buf.size());
    return next().pread(buf, offset, flags);
  }

 private:
  void leave() {
    if (attached_) s_.detach(this);
    attached_ = false;
  }
  friend class Scanner;
  Scanner& s_;
  bool attached_ = true;
};

void Scanner::attach(ScanConnection* c, uint64_t disk_size) {
  {
    std::lock_guard l(mu_);
    if (conns_.empty() && !cfg_.clock) {  // a new client after none: start over
      pos_ = 0;
      done_ = false;
    }
    size_ = disk_size;
    conns_.push_back(c);
    if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
  }
  cv_.notify_all();
}

void Scanner::detach(ScanConnection* c) {
  std::unique_lock l(mu_);
  std::erase(conns_, c);  // first, so the thread picks it no more, then wait for it to let go
  cv_.wait(l, [&] { return busy_ != c; });
}

void Scanner::run() {
  std::unique_lock l(mu_);
  for (;;) {
    cv_.wait(l, [&] { return stop_ || work_left(); });
    if (stop_) return;
    uint64_t off = pos_.load(), n = 0;
    if (off < size_) {
      n = std::min(cfg_.size, size_ - off);
      if (!pos_.compare_exchange_strong(off, off + n)) continue;  // a client read moved it
    }
    if (n == 0) {  // the end of the disk
      if (cfg_.forever)
        pos_ = 0;
      else
        done_ = true;
      continue;
    }
    ScanConnection* c = conns_.front();
    busy_ = c;
    l.unlock();
    // A failed prefetch costs the clients nothing: their reads go to the plugin as usual.
    (void)c->next().cache(n, off, 0);
    l.lock();
    busy_ = nullptr;
    cv_.notify_all();
  }
}

class ScanFilter final : public Filter {
 public:
  Result<bool> config(std::string_view key, std::string_view value) override {
    if (key == "scan-ahead") return set(cfg_.ahead, parse_bool(key, value));
    if (key == "scan-clock") return set(cfg_.clock, parse_bool(key, value));
    if (key == "scan-forever") return set(cfg_.forever, parse_bool(key, value));
    if (key == "scan-size") {
      NBD_TRY_ASSIGN(uint64_t n, parse_size(key, value));
      if (n < 512 || n > (1u << 30) || (n & (n - 1)))
        return make_error(EINVAL, "scan-size=" + std::string(value) +
                                      ": must be a power of 2 from 512 bytes to 1G (the default is 2M)");
      cfg_.size = n;
      return true;
    }
    return false;
  }
  Status get_ready(ThreadModel model) override {
    active_ = model == ThreadModel::Parallel;
    if (!active_)
      log::warning(
          "scan: the thread model is not parallel, so this filter cannot prefetch in parallel with "
          "reads and does nothing");
    scanner_ = std::make_unique<Scanner>(cfg_);
    return ok();
  }
  Result<std::string> default_export(bool readonly, bool is_tls, const NextExports& next) override {
    NBD_TRY_ASSIGN(std::string name, next.default_export(readonly, is_tls));
    std::lock_guard l(mu_);
    default_name_ = name;
    return name;
  }
  Result<std::unique_ptr<Connection>> open(const OpenParams& params, const NextOpen& next) override {
    NBD_TRY_ASSIGN(auto below, next(params));
    if (!active_ || !is_default(params.export_name)) return below;
    NBD_TRY_ASSIGN(CacheMode cache, below->can_cache());
    if (cache == CacheMode::None) {
      if (!warned_.exchange(true))
        log::warning(
            "scan: the layer below has no cache (prefetch) operation, so this filter does nothing: "
            "add --filter=cache after it");
      return below;
    }
    NBD_TRY_ASSIGN(uint64_t size, below->get_size());
    auto c = std::make_unique<ScanConnection>(std::move(below), *scanner_);
    scanner_->attach(c.get(), size);
    return std::unique_ptr<Connection>(std::move(c));
  }
  void unload() override {
    if (scanner_) scanner_->stop();
  }

 private:
  static Result<bool> set(bool& field, Result<bool> v) {
    NBD_TRY_ASSIGN(field, std::move(v));
    return true;
  }
  bool is_default(const std::string& name) {
    std::lock_guard l(mu_);
    return name.empty() || name == default_name_;
  }
  ScanConfig cfg_;
  bool active_ = true;
  std::atomic<bool> warned_{false};
  std::mutex mu_;
  std::string default_name_;
  std::unique_ptr<Scanner> scanner_;
};

constexpr ParamHelp kParams[] = {
    {"scan-ahead", "BOOL  Skip ahead of client reads (default true)"},
    {"scan-clock", "BOOL  Resume where it stopped when a client comes back (default true)"},
    {"scan-forever", "BOOL  Start over at the end of the disk (default false)"},
    {"scan-size", "SIZE  Prefetch size, a power of 2 (default 2M)"},
};

}  // namespace

extern const FilterInfo scan_filter_info;
const FilterInfo scan_filter_info{
    .name = "scan",
    .description = "nbdkit scan filter: prefetch the whole disk in the background",
    .params = kParams,
    .factory = [] { return std::unique_ptr<Filter>(std::make_unique<ScanFilter>()); },
};

}  // namespace nbd::filters
