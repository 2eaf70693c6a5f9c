// SPDX-License-Identifier: BSD-3-Clause
// The parallel copier: workers, each with a source and a destination channel (one NBD
// connection each), keep up to --requests reads and writes in flight; each thread runs one
// poll loop over its workers' sockets. Workers take 64 MiB segments from a shared counter.
#include <poll.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "copier.h"

namespace nbd::copy {
namespace {

constexpr uint64_t kSegment = uint64_t{64} << 20;
constexpr uint64_t kMaxZero = uint64_t{1} << 30;

// What all threads share: the next segment to copy and the first error.
class Shared {
 public:
  Shared(uint64_t size, uint64_t segment) : size_(size), segment_(segment) {}
  bool next_segment(uint64_t& off, uint64_t& len) {
    off = next_.fetch_add(segment_, std::memory_order_relaxed);
    if (off >= size_) return false;
    len = std::min(segment_, size_ - off);
    return true;
  }
  void fail(Error e) {
    std::lock_guard lock(mutex_);
    if (!failed_.exchange(true)) error_ = std::move(e);
  }
  bool failed() const { return failed_.load(std::memory_order_relaxed); }
  Error error() const { return error_; }

 private:
  uint64_t size_, segment_;
  std::atomic<uint64_t> next_{0};
  std::atomic<bool> failed_{false};
  std::mutex mutex_;
  Error error_;
};

Error at(const Endpoint& ep, const char* what, uint64_t offset, const Error& e) {
  return make_error(
      e.errnum, ep.name() + ": " + what + " at offset " + std::to_string(offset) + " failed: " + e.message);
}

class Worker {
 public:
  struct Ctx {
    Endpoint& src;
    Endpoint& dst;
    const CopyOptions& o;
    bool dst_zero;
    Progress& progress;
    Shared& shared;
  };

  Worker(const Ctx& ctx, std::unique_ptr<Channel> sc, std::unique_ptr<Channel> dc)
      : c_(ctx), sc_(std::move(sc)), dc_(std::move(dc)) {
    unsigned n =
        std::max<uint64_t>(1, std::min<uint64_t>(c_.o.requests, c_.o.queue_size / c_.o.request_size));
    buffers_.reset(new std::byte[size_t{n} * c_.o.request_size]);
    slots_.resize(n);
    // Zero requests carry no buffer, so more of them may be in flight than reads.
    zeroes_.resize(std::max(c_.o.requests, 16u));
    for (unsigned i = 0; i < n; ++i) {
      slots_[i].w = this;
      slots_[i].buf = buffers_.get() + size_t{i} * c_.o.request_size;
      free_slots_.push_back(&slots_[i]);
    }
    for (auto& z : zeroes_) {
      z.w = this;
      free_zeroes_.push_back(&z);
    }
  }

  // One round of the event loop, before polling: starts what it can. Returns false once this
  // worker has nothing in flight and nothing left to do (or failed); it always drains its own
  // operations first, since their completions point into this object.
  bool step() {
    if (dead_) return false;
    if (!c_.shared.failed()) issue();
    return !(busy() == 0 && (exhausted_ || c_.shared.failed()));
  }

  // Adds the sockets this worker waits for. A channel without an fd is waited for here.
  void add_polls(std::vector<pollfd>& fds, std::vector<std::pair<Worker*, Channel*>>& owners) {
    for (Channel* ch : {sc_.get(), dc_.get()}) {
      if (ch->in_flight() == 0) continue;
      if (ch->poll_fd() == -1) {
        if (auto st = ch->wait_one(); !st) die(std::move(st).error());
        continue;
      }
      fds.push_back({ch->poll_fd(), ch->poll_events(), 0});
      owners.push_back({this, ch});
    }
  }

  // A channel failed (the connection is dead): nothing more will complete on it.
  void die(Error e) {
    c_.shared.fail(std::move(e));
    dead_ = true;
  }

  void finish() {
    if (c_.o.flush && !c_.shared.failed()) {
      if (auto st = dc_->flush(); !st)
        c_.shared.fail(
            make_error(st.error().errnum, c_.dst.name() + ": flush failed: " + st.error().message));
    }
  }

 private:
  struct Slot final : Completion {
    Worker* w = nullptr;
    std::byte* buf = nullptr;
    uint64_t off = 0;
    uint64_t len = 0;
    unsigned pending = 0;
    bool reading = false;
    std::vector<Extent> runs;
    void complete(Status s) override { w->slot_done(*this, std::move(s)); }
  };
  struct ZeroOp final : Completion {
    Worker* w = nullptr;
    uint64_t off = 0;
    uint64_t len = 0;
    void complete(Status s) override { w->zero_done(*this, std::move(s)); }
  };

  size_t busy() const {
    return (slots_.size() - free_slots_.size()) + (zeroes_.size() - free_zeroes_.size());
  }

  bool refill() {
    uint64_t off, len;
    if (!c_.shared.next_segment(off, len)) return false;
    extents_.clear();
    pieces_.clear();
    pos_ = 0;
    if (c_.src.can_extents() && !c_.o.no_extents) {
      if (auto st = sc_->extents(len, off, extents_); !st) {
        c_.shared.fail(at(c_.src, "block status", off, st.error()));
        return false;
      }
    } else {
      extents_.push_back({off, len, 0});
    }
    for (Extent e : extents_) {
      uint64_t end = std::min(e.offset + e.length, off + len);
      if (e.offset >= end) continue;
      e.length = end - e.offset;
      split_extent(e, c_.o.request_size, kMaxZero, pieces_);
    }
    return true;
  }

  void issue() {
    while (!c_.shared.failed()) {
      if (pos_ == pieces_.size() && !refill()) {
        exhausted_ = true;
        return;
      }
      const Extent p = pieces_[pos_];
      if (p.reads_as_zero()) {
        if (c_.o.blkhash) c_.o.blkhash->update(nullptr, p.offset, p.length);
        if (c_.dst_zero && !c_.o.allocated) {
          ++pos_;
          c_.progress.add(p.length);
          continue;
        }
        if (free_zeroes_.empty()) return;
        ZeroOp* z = free_zeroes_.back();
        free_zeroes_.pop_back();
        ++pos_;
        z->off = p.offset;
        z->len = p.length;
        dc_->zero(p.length, p.offset, c_.o.allocated, *z);
      } else {
        if (free_slots_.empty()) return;
        Slot* s = free_slots_.back();
        free_slots_.pop_back();
        ++pos_;
        s->off = p.offset;
        s->len = p.length;
        s->reading = true;
        if (c_.o.discard_reads)
          sc_->read_discard(p.length, p.offset, {s->buf, p.length}, *s);
        else
          sc_->read({s->buf, p.length}, p.offset, *s, nullptr);
      }
    }
  }

  void slot_done(Slot& s, Status st) {
    if (!st) c_.shared.fail(at(s.reading ? c_.src : c_.dst, s.reading ? "read" : "write", s.off, st.error()));
    if (s.reading) {
      s.reading = false;
      if (st && c_.o.blkhash) c_.o.blkhash->update(s.buf, s.off, s.len);
      s.pending = 1;  // guard: synchronous writes below must not retire the slot early
      if (st && !c_.shared.failed()) write_runs(s);
    }
    if (--s.pending == 0) {
      if (st) c_.progress.add(s.len);
      free_slots_.push_back(&s);
    }
  }

  void write_runs(Slot& s) {
    split_runs({s.buf, s.len}, s.off, c_.o.sparse, s.runs);
    for (const Extent& r : s.runs) {
      if (r.reads_as_zero() && c_.dst_zero && !c_.o.allocated) continue;
      ++s.pending;
      if (r.reads_as_zero())
        dc_->zero(r.length, r.offset, c_.o.allocated, s);
      else
        dc_->write({s.buf + (r.offset - s.off), r.length}, r.offset, s);
    }
  }

  void zero_done(ZeroOp& z, Status st) {
    if (!st)
      c_.shared.fail(at(c_.dst, "zero", z.off, st.error()));
    else
      c_.progress.add(z.len);
    free_zeroes_.push_back(&z);
  }

  Ctx c_;
  std::unique_ptr<std::byte[]> buffers_;
  std::vector<Slot> slots_;
  std::vector<ZeroOp> zeroes_;
  std::vector<Slot*> free_slots_;
  std::vector<ZeroOp*> free_zeroes_;
  std::vector<Extent> extents_, pieces_;
  size_t pos_ = 0;
  bool exhausted_ = false;
  bool dead_ = false;
  // Last, so they close first: nothing may complete into the slots after they are gone.
  std::unique_ptr<Channel> sc_, dc_;
};

// One thread's event loop over its workers: start requests, poll every busy socket, move bytes.
void run_loop(std::span<Worker* const> workers) {
  std::vector<pollfd> fds;
  std::vector<std::pair<Worker*, Channel*>> owners;
  std::vector<Worker*> active(workers.begin(), workers.end());
  while (!active.empty()) {
    fds.clear();
    owners.clear();
    std::erase_if(active, [](Worker* w) { return !w->step(); });
    for (Worker* w : active) w->add_polls(fds, owners);
    if (fds.empty()) continue;  // synchronous channels only: go round again
    while (::poll(fds.data(), fds.size(), -1) == -1) {
      if (errno != EINTR) {
        for (Worker* w : active) w->die(make_error(errno, std::string("poll: ") + std::strerror(errno)));
        return;
      }
    }
    for (size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].revents == 0) continue;
      if (auto st = owners[i].second->notify(fds[i].revents); !st)
        owners[i].first->die(std::move(st).error());
    }
  }
  for (Worker* w : workers) w->finish();
}

}  // namespace

Status copy_multi(Endpoint& src, Endpoint& dst, const CopyOptions& opts, bool dst_is_zero,
                  Progress& progress) {
  const uint64_t size = src.size().value_or(0);
  Shared shared(size, std::max<uint64_t>(kSegment, opts.request_size));
  Worker::Ctx ctx{src, dst, opts, dst_is_zero, progress, shared};
  std::vector<std::unique_ptr<Worker>> workers;
  for (unsigned i = 0; i < std::max(1u, opts.connections); ++i) {
    NBD_TRY_ASSIGN(auto sc, src.open_channel());
    NBD_TRY_ASSIGN(auto dc, dst.open_channel());
    workers.push_back(std::make_unique<Worker>(ctx, std::move(sc), std::move(dc)));
  }
  // Worker i runs on thread i % threads; the calling thread is thread 0.
  const size_t nthreads = std::clamp<size_t>(opts.threads, 1, workers.size());
  std::vector<std::vector<Worker*>> groups(nthreads);
  for (size_t i = 0; i < workers.size(); ++i) groups[i % nthreads].push_back(workers[i].get());
  {
    std::vector<std::jthread> threads;
    for (size_t t = 1; t < nthreads; ++t) threads.emplace_back([&g = groups[t]] { run_loop(g); });
    run_loop(groups[0]);
  }
  if (shared.failed()) return shared.error();
  return ok();
}

}  // namespace nbd::copy
