// SPDX-License-Identifier: BSD-3-Clause
// The rate filter's token bucket: tokens (bits) flow in at `rate` per second, up to a capacity
// of rate * burstiness seconds above what has been claimed. Each request claims its bits and
// gets a ticket: it may go once the tokens granted so far reach its ticket, so requests in
// parallel share the rate exactly, in arrival order, and a rate change applies to those already
// waiting.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <mutex>

namespace nbd::filters {

class TokenBucket {
 public:
  using Clock = std::chrono::steady_clock;

  // rate in bits per second, 0 meaning unlimited; buckets start full, as upstream's.
  TokenBucket(uint64_t rate, double burst_secs, Clock::time_point now = Clock::now())
      : rate_(rate), burst_secs_(burst_secs), granted_(capacity()), last_(now) {}

  // Claims `bits` tokens; returns the ticket to pass to wait_ns. Thread-safe.
  double claim(uint64_t bits, Clock::time_point now = Clock::now()) {
    std::lock_guard l(mu_);
    refill(now);
    claimed_ += double(bits);
    if (rate_ == 0) granted_ = claimed_;  // unlimited: nothing is owed when a limit comes later
    return claimed_;
  }

  // How long (ns) the holder of `ticket` must still wait at the current rate: 0 once the
  // tokens granted reach it. Ask again after sleeping: the rate may have changed. Thread-safe.
  uint64_t wait_ns(double ticket, Clock::time_point now = Clock::now()) {
    std::lock_guard l(mu_);
    refill(now);
    if (rate_ == 0 || granted_ >= ticket) return 0;
    return uint64_t((ticket - granted_) / double(rate_) * 1e9);
  }

  // claim + wait_ns in one, for a caller that sleeps the whole wait at once.
  uint64_t take(uint64_t bits, Clock::time_point now = Clock::now()) {
    return wait_ns(claim(bits, now), now);
  }

  // Changes the rate (0: unlimited, which lets every waiting ticket go) and returns the old
  // one; tokens above the new capacity are dropped. Thread-safe.
  uint64_t set_rate(uint64_t rate, Clock::time_point now = Clock::now()) {
    std::lock_guard l(mu_);
    refill(now);
    uint64_t old = rate_;
    rate_ = rate;
    if (rate_ == 0) granted_ = std::max(granted_, claimed_);
    granted_ = std::min(granted_, claimed_ + capacity());
    return old;
  }

  uint64_t rate() {
    std::lock_guard l(mu_);
    return rate_;
  }

 private:
  double capacity() const { return double(rate_) * burst_secs_; }
  void refill(Clock::time_point now) {
    if (now <= last_) return;
    granted_ += std::chrono::duration<double>(now - last_).count() * double(rate_);
    granted_ = std::min(granted_, claimed_ + capacity());
    last_ = now;
  }

  std::mutex mu_;
  uint64_t rate_;
  double burst_secs_;
  // Bits granted and claimed since the start: granted - claimed is the bucket's level, negative
  // while requests wait. Doubles hold whole bits exactly up to 2^53 (a year at 200 Mbit/s).
  double granted_, claimed_ = 0;
  Clock::time_point last_;
};

}  // namespace nbd::filters
