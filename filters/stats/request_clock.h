// SPDX-License-Identifier: BSD-3-Clause
// RequestClock: the stats filter's per-request timer. It reads the clock twice per request,
// and in our 2-core VM a steady_clock::now() (the vDSO's clock_gettime) costs more than twice
// a bare rdtsc, which made the clock the stats filter's largest cost. So where the kernel keeps
// its own time with the TSC (clocksource "tsc": invariant and synchronized across CPUs, or
// the kernel would not use it), the TSC is read directly and converted with a factor measured
// against steady_clock once at start; elsewhere it is steady_clock.
#pragma once

#include <chrono>
#include <cstdint>
#include <fstream>
#include <string>
#include <thread>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define NBD_STATS_HAVE_TSC 1
#endif

namespace nbd::filters::stats {

class RequestClock {
 public:
  // Decides the source and, for the TSC, measures its rate over about 5 ms. force_steady
  // (tests) keeps steady_clock.
  void calibrate(bool force_steady = false) {
    tsc_ = false;
#ifdef NBD_STATS_HAVE_TSC
    if (force_steady || !kernel_uses_tsc()) return;
    auto [n0, t0] = pair();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    auto [n1, t1] = pair();
    if (n1 <= n0 || t1 <= t0) return;
    // microseconds = ticks * us_per_tick_q32 >> 32
    long double us_per_tick = (long double)(n1 - n0) / 1000.0L / (long double)(t1 - t0);
    us_per_tick_q32_ = uint64_t(us_per_tick * 4294967296.0L);
    tsc_ = us_per_tick_q32_ != 0;
#else
    (void)force_steady;
#endif
  }
  bool uses_tsc() const { return tsc_; }

  // A point in time in the clock's own unit.
  uint64_t now() const {
#ifdef NBD_STATS_HAVE_TSC
    if (tsc_) return __rdtsc();
#endif
    return uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(
                        std::chrono::steady_clock::now().time_since_epoch())
                        .count());
  }
  // Whole microseconds from start to end (0 if end is before start).
  uint64_t whole_us(uint64_t start, uint64_t end) const {
    if (end <= start) return 0;
    uint64_t d = end - start;
    if (tsc_) return uint64_t((unsigned __int128)d * us_per_tick_q32_ >> 32);
    return d / 1000;
  }

 private:
  static bool kernel_uses_tsc() {
    std::ifstream f("/sys/devices/system/clocksource/clocksource0/current_clocksource");
    std::string s;
    return f >> s && s == "tsc";
  }
#ifdef NBD_STATS_HAVE_TSC
  // (steady ns, tsc) read as close together as the scheduler allows: the tightest of 5 tries.
  static std::pair<uint64_t, uint64_t> pair() {
    std::pair<uint64_t, uint64_t> best{0, 0};
    uint64_t best_window = ~uint64_t(0);
    for (int i = 0; i < 5; ++i) {
      auto a = steady_ns();
      uint64_t t = __rdtsc();
      auto b = steady_ns();
      if (b - a < best_window) {
        best_window = b - a;
        best = {a + (b - a) / 2, t};
      }
    }
    return best;
  }
  static uint64_t steady_ns() {
    return uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(
                        std::chrono::steady_clock::now().time_since_epoch())
                        .count());
  }
#endif
  bool tsc_ = false;
  uint64_t us_per_tick_q32_ = 0;
};

}  // namespace nbd::filters::stats
