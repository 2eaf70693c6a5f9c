// SPDX-License-Identifier: BSD-3-Clause
// Progress bar and machine-readable progress lines for nbdcopy (see progress.h).
#include "progress.h"

#include <unistd.h>

#include <string>

namespace nbd::copy {

namespace {
constexpr unsigned kBarWidth = 40;
}

std::string Progress::machine_line(unsigned percent) { return std::to_string(percent) + "/100\n"; }

std::string Progress::bar_line(unsigned percent, unsigned spin) {
  static const char kSpin[] = {'|', '/', '-', '\\'};
  std::string s = "\r";
  s += percent >= 100 ? ' ' : kSpin[spin % 4];
  std::string pct = std::to_string(percent);
  s += std::string(4 - pct.size(), ' ') + pct + "% [";
  unsigned filled = percent * kBarWidth / 100;
  s += std::string(filled, '#') + std::string(kBarWidth - filled, '.') + "]";
  return s;
}

void Progress::start() {
  if (mode_ != Mode::Off) print(0);
}

void Progress::add(uint64_t bytes) {
  uint64_t done = done_.fetch_add(bytes, std::memory_order_relaxed) + bytes;
  if (mode_ == Mode::Off || total_ == 0) return;
  auto percent = static_cast<unsigned>(done >= total_ ? 100 : done * 100 / total_);
  // Print each percentage once, from whichever thread crosses it first; 100% is finish()'s.
  unsigned last = last_percent_.load(std::memory_order_relaxed);
  if (percent >= 100 || percent == last) return;
  if (last_percent_.compare_exchange_strong(last, percent)) print(percent);
}

void Progress::finish() {
  if (mode_ == Mode::Off) return;
  print(100);
  if (mode_ == Mode::Bar) {
    std::lock_guard lock(print_mutex_);
    (void)!::write(fd_, "\n", 1);
  }
}

void Progress::print(unsigned percent) {
  std::lock_guard lock(print_mutex_);
  if (printed_any_ && percent < printed_) return;  // a slower thread's older news
  printed_any_ = true;
  printed_ = percent;
  std::string s = mode_ == Mode::Machine ? machine_line(percent) : bar_line(percent, spin_++);
  // Progress is best effort: a closed descriptor must not fail the copy.
  (void)!::write(fd_, s.data(), s.size());
}

}  // namespace nbd::copy
