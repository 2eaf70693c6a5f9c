// SPDX-License-Identifier: BSD-3-Clause
// The spinning filter's head model (see heads.h).
#include "heads.h"

#include <algorithm>
#include <cmath>

namespace nbd::filters::spinning {

// With x = 0, 1/2, 1 the three points give c = min, a/4 + b/2 + c = half, a + b + c = max.
SeekCurve::SeekCurve(double min, double half, double max)
    : a_(2 * (max - 2 * half + min)), b_(4 * half - 3 * min - max), c_(min) {}

bool SeekCurve::stable(double min, double half, double max) const {
  constexpr double kTolerance = 0.0005;
  return std::fabs(seconds(0) - min) < kTolerance && std::fabs(seconds(0.5) - half) < kTolerance &&
         std::fabs(seconds(1) - max) < kTolerance;
}

Heads::Heads(uint64_t size, unsigned count, bool separate) : separate_(separate) {
  uint64_t n = std::min<uint64_t>(count, size);
  if (n == 0) return;
  step_ = size / n;
  for (uint64_t i = 0; i < n; ++i) {
    auto h = std::make_unique<Head>();
    h->start = h->pos = i * step_;
    h->end = i + 1 == n ? size : (i + 1) * step_;
    heads_.push_back(std::move(h));
  }
}

size_t Heads::index_of(uint64_t offset) const {
  return size_t(std::min<uint64_t>(offset / step_, heads_.size() - 1));
}

std::mutex& Heads::arm_for(uint64_t offset) {
  return separate_ ? heads_[index_of(offset)]->arm : heads_[0]->arm;
}

double Heads::move_to(uint64_t offset, const SeekCurve& curve) {
  Head& h = *heads_[index_of(offset)];
  uint64_t delta = h.pos > offset ? h.pos - offset : offset - h.pos;
  if (separate_) {
    h.pos = offset;
  } else {
    uint64_t within = offset - h.start;
    for (auto& other : heads_) other->pos = other->start + within;
  }
  if (delta <= kTrackSize) return 0;
  return std::max(0.0, curve.seconds(double(delta) / double(h.end - h.start)));
}

}  // namespace nbd::filters::spinning
