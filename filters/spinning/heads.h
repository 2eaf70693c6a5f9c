// SPDX-License-Identifier: BSD-3-Clause
// The spinning filter's model of a disk's heads: where each head is, which range of the disk
// it covers, and how long a seek takes. No sleeping here, so tests can check the numbers.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

namespace nbd::filters::spinning {

// Moves of at most one track cost nothing.
inline constexpr uint64_t kTrackSize = 128 * 1024;

// Seek time in seconds as a quadratic in the stroke (the distance moved as a fraction of the
// head's range, 0..1) through (0, min), (0.5, half) and (1, max).
class SeekCurve {
 public:
  SeekCurve(double min, double half, double max);
  double seconds(double stroke) const { return (a_ * stroke + b_) * stroke + c_; }
  // False when rounding keeps the curve from meeting its three points within half a millisecond
  // (absurdly large or mismatched times).
  bool stable(double min, double half, double max) const;

 private:
  double a_, b_, c_;
};

// The heads of one connection's disk. With separate heads each moves on its own arm, under
// its own lock; otherwise one arm (one lock) moves all of them to the same place in their
// ranges. The disk is split into `count` equal ranges, the last taking the remainder; a disk
// smaller than `count` bytes gets one head per byte. Thread-safe when used as below.
class Heads {
 public:
  Heads(uint64_t size, unsigned count, bool separate);
  size_t count() const { return heads_.size(); }
  // The lock of the arm that must move to reach offset (< size). Hold it across move_to and
  // the seek's sleep, so requests on one arm wait for each other, as on a real disk.
  std::mutex& arm_for(uint64_t offset);
  // Moves the head(s) so the one covering offset is there; returns the seek time in seconds
  // (0 for a move within a track). The caller holds arm_for(offset).
  double move_to(uint64_t offset, const SeekCurve& curve);
  // For tests: head i's range [start, end) and position. Take the arm's lock if others move it.
  uint64_t start(size_t i) const { return heads_[i]->start; }
  uint64_t end(size_t i) const { return heads_[i]->end; }
  uint64_t position(size_t i) const { return heads_[i]->pos; }

 private:
  struct Head {
    uint64_t start = 0, end = 0, pos = 0;
    std::mutex arm;
  };
  size_t index_of(uint64_t offset) const;

  bool separate_;
  uint64_t step_ = 0;
  std::vector<std::unique_ptr<Head>> heads_;
};

}  // namespace nbd::filters::spinning
