// SPDX-License-Identifier: BSD-3-Clause
// nbdcopy's progress output: a bar on a terminal (-p) or "N/100" lines on a file descriptor
// (--progress=FD, for programs). Copy threads call add(); it is cheap and thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>

namespace nbd::copy {

class Progress {
 public:
  enum class Mode { Off, Bar, Machine };
  // fd: where to write (stderr for the bar). total: bytes to copy, 0 when unknown.
  Progress(Mode mode, int fd, uint64_t total) : mode_(mode), fd_(fd), total_(total) {}

  void start();              // prints 0%
  void add(uint64_t bytes);  // bytes newly copied
  void finish();             // prints 100% (and a newline for the bar)
  uint64_t done() const { return done_.load(std::memory_order_relaxed); }
  // The text printed for `percent` (exposed for tests).
  static std::string machine_line(unsigned percent);
  static std::string bar_line(unsigned percent, unsigned spin);

 private:
  void print(unsigned percent);

  Mode mode_;
  int fd_;
  uint64_t total_;
  std::atomic<uint64_t> done_{0};
  std::atomic<unsigned> last_percent_{~0u};
  std::mutex print_mutex_;
  unsigned spin_ = 0;
  unsigned printed_ = 0;
  bool printed_any_ = false;
};

}  // namespace nbd::copy
