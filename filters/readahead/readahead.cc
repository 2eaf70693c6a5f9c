// SPDX-License-Identifier: BSD-3-Clause
// readahead filter: prefetches what a client reading sequentially will want next, as upstream's
// nbdkit-readahead-filter. Each read is checked against the end of the previous one: in
// sequence, the window doubles (64 KiB up to 32 MiB); anywhere else it drops back to 64 KiB and
// nothing is prefetched. The prefetch is cache requests to the layer below (the plugin's
// .cache, or --filter=cache / --filter=cow cow-on-cache=true under this one) of 256 KiB each,
// four at a time from threads of the connection's own while the reads proceed, never covering
// the same bytes twice.
// Under a thread model other than parallel it would break the plugin's serialization, so it
// then does nothing and says so, as upstream.
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "nbd/filter.h"
#include "nbd/log.h"

namespace nbd::filters {
namespace {

constexpr uint64_t kMinWindow = 64 * 1024;
constexpr uint64_t kMaxWindow = 32 * 1024 * 1024;
constexpr uint64_t kPiece = 256 * 1024;  // one cache request below
constexpr int kWorkers = 4;              // cache requests in flight at once, per connection

class ReadaheadConnection final : public FilterConnection {
 public:
  explicit ReadaheadConnection(std::unique_ptr<Connection> next) : FilterConnection(std::move(next)) {}
  ~ReadaheadConnection() override { stop(); }
  // The core finalizes the layers below right after this one: no prefetch may still be running.
  Status finalize() override {
    stop();
    return ok();
  }

  Status pread(std::span<std::byte> buf, uint64_t offset, uint32_t flags) override {
    plan(offset, buf.size());
    return next().pread(buf, offset, flags);
  }

 private:
  void stop() {
    {
      std::lock_guard l(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& w : workers_) w.join();
    workers_.clear();
  }

  // Decides what to prefetch after a read of [offset, offset+len) and hands it to the worker.
  void plan(uint64_t offset, uint64_t len) {
    uint64_t end = offset + len;
    {
      std::lock_guard l(mu_);
      if (!size_) {
        auto s = next().get_size();
        size_ = s ? *s : 0;
      }
      if (offset == last_end_ && offset != 0) {
        window_ = std::min(window_ * 2, kMaxWindow);
      } else {
        window_ = kMinWindow;
        fetched_end_ = 0;  // a jump: what was prefetched before says nothing about here
        queue_.clear();
        last_end_ = end;
        return;
      }
      last_end_ = end;
      uint64_t from = std::max(end, fetched_end_);
      uint64_t to = std::min(end + window_, size_);
      if (from >= to) return;
      fetched_end_ = to;
      for (uint64_t p = from; p < to; p += kPiece) queue_.push_back({p, std::min(kPiece, to - p)});
      while (!stop_ && workers_.size() < size_t(kWorkers)) workers_.emplace_back([this] { work(); });
    }
    cv_.notify_all();
  }

  // Sends the queued cache requests, skipping what the client has read by then, until stopped.
  void work() {
    for (;;) {
      Job j;
      {
        std::unique_lock l(mu_);
        cv_.wait(l, [&] { return stop_ || !queue_.empty(); });
        if (stop_) return;
        j = queue_.front();
        queue_.pop_front();
        if (j.offset + j.count <= last_end_) continue;  // the client got there first
      }
      // A failed prefetch costs the client nothing: its read goes to the plugin as usual.
      (void)next().cache(j.count, j.offset, 0);
    }
  }

  struct Job {
    uint64_t offset = 0, count = 0;
  };
  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t size_ = 0, last_end_ = 0, fetched_end_ = 0, window_ = kMinWindow;
  std::deque<Job> queue_;  // pieces of [last read's end, fetched_end_) not sent yet
  bool stop_ = false;
  std::vector<std::thread> workers_;
};

class ReadaheadFilter final : public Filter {
 public:
  Status get_ready(ThreadModel model) override {
    active_ = model == ThreadModel::Parallel;
    if (!active_)
      log::warning(
          "readahead: the thread model is not parallel, so this filter cannot prefetch in parallel "
          "with reads and does nothing");
    return ok();
  }
  Result<std::unique_ptr<Connection>> open(const OpenParams& params, const NextOpen& next) override {
    NBD_TRY_ASSIGN(auto below, next(params));
    if (!active_) return below;
    NBD_TRY_ASSIGN(CacheMode cache, below->can_cache());
    if (cache == CacheMode::None && !warned_.exchange(true))
      log::warning(
          "readahead: the layer below has no cache (prefetch) operation: add --filter=cache after "
          "this filter, or the prefetches do nothing");
    return std::unique_ptr<Connection>(std::make_unique<ReadaheadConnection>(std::move(below)));
  }

 private:
  bool active_ = true;
  std::atomic<bool> warned_{false};
};

}  // namespace

extern const FilterInfo readahead_filter_info;
const FilterInfo readahead_filter_info{
    .name = "readahead",
    .description = "nbdkit readahead filter: prefetch data when reading sequentially",
    .params = {},
    .factory = [] { return std::unique_ptr<Filter>(std::make_unique<ReadaheadFilter>()); },
};

}  // namespace nbd::filters
