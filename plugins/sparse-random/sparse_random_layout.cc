// SPDX-License-Identifier: BSD-3-Clause
// sparse-random disk layout. Up to 16 TiB, upstream's: a two-state chain (hole, data) stepped
// once per block by xoshiro256**, kept as the blocks where it flips. Beyond, our own: one data
// run per cell, drawn from a hash of (seed, cell). Block content is upstream's either way.
#include "sparse_random_layout.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>

#include "common/random.h"

namespace nbd::sparse_random {
namespace {

constexpr int kMaxExtentSpans = 65536;

double unit_interval(uint64_t h) { return static_cast<double>(h >> 11) * 0x1.0p-53; }

bool all_equal(const std::byte* p, size_t n, std::byte b) {
  return n == 0 || (p[0] == b && std::memcmp(p, p + 1, n - 1) == 0);
}

// Upstream leaves a state when (double)draw <= P * (double)UINT64_MAX. The draws that pass are
// exactly those up to the largest integer whose conversion is still <= that bound, so comparing
// integers against it gives the same answers with no conversion per block.
uint64_t largest_draw_at_or_below(double bound) {
  if (bound >= 0x1p64) return UINT64_MAX;
  uint64_t lo = 0, hi = UINT64_MAX;  // (double)lo <= bound holds: bound >= 0
  while (lo < hi) {
    uint64_t mid = lo + (hi - lo) / 2 + 1;
    if (static_cast<double>(mid) <= bound) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  return lo;
}

}  // namespace

Layout::Layout(const Params& p) : p_(p) {
  blocks_ = (p.size + kBlockSize - 1) / kBlockSize;
  if (blocks_ > kMaxChainBlocks) {
    mode_ = Mode::Cells;
    init_cells();
  } else {
    draw_chain();
  }
}

// Upstream's chain: in the hole state leave with probability P_hd per block, in the data state
// with P_dh, so that data runs average `runlength` and take `percent` of the disk. Block b has
// the state the chain is in before draw b.
void Layout::draw_chain() {
  if (p_.percent <= 0) return;
  if (p_.percent >= 100) {
    flips_.push_back(0);
    return;
  }
  const double p_dh = 1. / (static_cast<double>(p_.runlength) / kBlockSize);
  const double p_hd = (p_.percent / 100.) * p_dh / (1. - (p_.percent / 100.));
  const double max = static_cast<double>(UINT64_MAX);
  const uint64_t leave[2] = {largest_draw_at_or_below(p_hd * max), largest_draw_at_or_below(p_dh * max)};
  // Past this many flips a bitmap (one bit per block) is the smaller record.
  const uint64_t max_flips = blocks_ / 64 + 1024;
  Xoshiro256 rng = Xoshiro256::like_nbdkit(p_.seed);
  unsigned state = 0;
  uint64_t run_start = 0;
  for (uint64_t b = 0; b < blocks_; ++b) {
    if (rng.next() > leave[state]) continue;
    state ^= 1;
    if (mode_ == Mode::Flips) {
      flips_.push_back(b + 1);
      if (flips_.size() <= max_flips) continue;
      mode_ = Mode::Bitmap;
      bits_.assign((blocks_ + 63) / 64, 0);
      for (size_t i = 0; i + 1 < flips_.size(); i += 2) set_data(flips_[i], flips_[i + 1]);
      if (state) run_start = flips_.back();
      flips_ = {};
    } else if (state) {
      run_start = b + 1;
    } else {
      set_data(run_start, b + 1);
    }
  }
  if (mode_ == Mode::Bitmap && state) set_data(run_start, blocks_);
}

void Layout::set_data(uint64_t from, uint64_t to) {
  for (uint64_t b = from; b < std::min(to, blocks_); ++b) bits_[b / 64] |= uint64_t{1} << (b % 64);
}

Layout::Span Layout::chain_span(uint64_t block) const {
  auto it = std::upper_bound(flips_.begin(), flips_.end(), block);
  const bool data = (it - flips_.begin()) % 2 == 1;
  return {data, it == flips_.end() ? blocks_ : std::min(*it, blocks_)};
}

Layout::Span Layout::bitmap_span(uint64_t block) const {
  const uint64_t words = bits_.size();
  uint64_t w = block / 64;
  const bool data = (bits_[w] >> (block % 64)) & 1;
  const uint64_t flip = data ? ~uint64_t{0} : 0;  // makes the blocks like `block` zero bits
  uint64_t x = (bits_[w] ^ flip) & (~uint64_t{0} << (block % 64));
  while (x == 0 && ++w < words) x = bits_[w] ^ flip;
  return {data, x == 0 ? blocks_ : std::min(w * 64 + std::countr_zero(x), blocks_)};
}

Layout::Span Layout::span_at(uint64_t block) const {
  switch (mode_) {
    case Mode::Flips: return chain_span(block);
    case Mode::Bitmap: return bitmap_span(block);
    case Mode::Cells: break;
  }
  return cell_span(block);
}

void Layout::init_cells() {
  const uint64_t max_cell = std::max<uint64_t>(blocks_, 1);
  if (p_.percent <= 0) {
    cell_ = max_cell;
    return;
  }
  if (p_.percent >= 100) {
    cell_ = 1;
    mean_run_ = 1;
    return;
  }
  double run_blocks = std::max(1.0, std::round(static_cast<double>(p_.runlength) / kBlockSize));
  double cell = std::max(1.0, std::round(run_blocks * 100 / p_.percent));
  cell_ = cell >= static_cast<double>(max_cell) ? max_cell : static_cast<uint64_t>(cell);
  mean_run_ = static_cast<double>(cell_) * p_.percent / 100;
  jitter_ = std::min(mean_run_, static_cast<double>(cell_) - mean_run_) * 0.75;
}

Layout::Run Layout::run_of_cell(uint64_t cell) const {
  if (mean_run_ <= 0) return {0, 0};
  const uint64_t base = cell * cell_;
  if (jitter_ <= 0 && mean_run_ >= static_cast<double>(cell_)) return {base, base + cell_};
  const uint64_t h1 = mix64(p_.seed, cell), h2 = mix64(h1), h3 = mix64(h2);
  // The dither h2 makes the integer length average exactly mean_run_.
  double len = std::floor(mean_run_ - jitter_ + 2 * jitter_ * unit_interval(h1) + unit_interval(h2));
  uint64_t n = static_cast<uint64_t>(std::clamp(len, 0.0, static_cast<double>(cell_)));
  uint64_t start = base + static_cast<uint64_t>(unit_interval(h3) * static_cast<double>(cell_ - n + 1));
  start = std::min(start, base + cell_ - n);
  return {start, start + n};
}

Layout::Span Layout::cell_span(uint64_t block) const {
  const uint64_t cell = block / cell_;
  const uint64_t cell_end = std::min(blocks_, (cell + 1) * cell_);
  const Run r = run_of_cell(cell);
  if (block < r.start) return {false, std::min(r.start, cell_end)};
  if (block < r.end) return {true, std::min(r.end, cell_end)};
  return {false, cell_end};
}

// Upstream's block content: a generator seeded with seed + the block's offset; a data block
// repeats the low byte of its first output (1 if that is 0), or with random-content=true holds
// the low bytes of its first 4096 outputs.
std::byte Layout::block_byte(uint64_t block) const {
  auto v = static_cast<uint8_t>(Xoshiro256::like_nbdkit(p_.seed + block * kBlockSize).next());
  return static_cast<std::byte>(v == 0 ? 1 : v);
}

void Layout::fill_block(uint64_t block, std::span<std::byte> out, uint64_t offset_in_block) const {
  if (!p_.random_content) {
    std::memset(out.data(), static_cast<int>(block_byte(block)), out.size());
    return;
  }
  Xoshiro256 rng = Xoshiro256::like_nbdkit(p_.seed + block * kBlockSize);
  for (uint64_t i = 0; i < offset_in_block; ++i) rng.next();
  for (auto& b : out) b = static_cast<std::byte>(rng.next() & 0xff);
}

void Layout::read(std::span<std::byte> buf, uint64_t offset) const {
  for (size_t done = 0; done < buf.size();) {
    const uint64_t pos = offset + done, block = pos / kBlockSize;
    const Span s = span_at(block);
    const uint64_t n = std::min<uint64_t>(buf.size() - done, std::min(s.end * kBlockSize, p_.size) - pos);
    if (!s.data) {
      std::memset(buf.data() + done, 0, n);
    } else {
      for (uint64_t at = pos; at < pos + n;) {
        uint64_t in_block = at % kBlockSize, len = std::min(kBlockSize - in_block, pos + n - at);
        fill_block(at / kBlockSize, buf.subspan(done + (at - pos), len), in_block);
        at += len;
      }
    }
    done += n;
  }
}

bool Layout::matches(std::span<const std::byte> buf, uint64_t offset) const {
  std::byte expect[kBlockSize];
  for (size_t done = 0; done < buf.size();) {
    const uint64_t pos = offset + done;
    const uint64_t in_block = pos % kBlockSize;
    const size_t n = static_cast<size_t>(std::min<uint64_t>(buf.size() - done, kBlockSize - in_block));
    const uint64_t block = pos / kBlockSize;
    const std::byte* got = buf.data() + done;
    if (!block_has_data(block)) {
      if (!all_equal(got, n, std::byte{0})) return false;
    } else if (!p_.random_content) {
      if (!all_equal(got, n, block_byte(block))) return false;
    } else {
      fill_block(block, std::span(expect, n), in_block);
      if (std::memcmp(expect, got, n) != 0) return false;
    }
    done += n;
  }
  return true;
}

bool Layout::reads_as_zero(uint64_t count, uint64_t offset) const {
  std::byte got[kBlockSize];
  for (uint64_t pos = offset; pos < offset + count;) {
    const Span s = span_at(pos / kBlockSize);
    const uint64_t end = std::min(offset + count, std::min(s.end * kBlockSize, p_.size));
    if (s.data) {
      if (!p_.random_content) return false;  // data blocks repeat a non-zero byte
      for (uint64_t at = pos; at < end;) {
        uint64_t in_block = at % kBlockSize, len = std::min(kBlockSize - in_block, end - at);
        fill_block(at / kBlockSize, std::span(got, len), in_block);
        if (!all_equal(got, len, std::byte{0})) return false;
        at += len;
      }
    }
    pos = end;
  }
  return true;
}

Status Layout::extents(uint64_t count, uint64_t offset, ExtentList& extents) const {
  uint64_t block = offset / kBlockSize;
  const uint64_t end = offset + count;
  for (int i = 0; i < kMaxExtentSpans; ++i) {
    const Span s = span_at(block);
    const uint64_t from = block * kBlockSize, to = std::min(s.end * kBlockSize, p_.size);
    NBD_TRY(extents.add(from, to - from, s.data ? 0 : kExtentHole | kExtentZero));
    if (to >= end) break;
    block = s.end;
  }
  return ok();
}

}  // namespace nbd::sparse_random
