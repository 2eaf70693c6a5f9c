// SPDX-License-Identifier: BSD-3-Clause
// sparse-random disk layout: one data run per cell, drawn from a hash of (seed, cell), and
// block content drawn from a hash of (seed, block). O(1) to ask about any block.
#include "sparse_random_layout.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "common/random.h"

namespace nbd::sparse_random {
namespace {

constexpr uint64_t kSaltByte = 0x5eed'b17e'0000'0001ULL;
constexpr uint64_t kSaltContent = 0x5eed'c0de'0000'0002ULL;
constexpr int kMaxExtentSpans = 65536;

double unit_interval(uint64_t h) { return static_cast<double>(h >> 11) * 0x1.0p-53; }

bool all_equal(const std::byte* p, size_t n, std::byte b) {
  return n == 0 || (p[0] == b && std::memcmp(p, p + 1, n - 1) == 0);
}

}  // namespace

Layout::Layout(const Params& p) : p_(p) {
  blocks_ = (p.size + kBlockSize - 1) / kBlockSize;
  const uint64_t max_cell = std::max<uint64_t>(blocks_, 1);
  if (p.percent <= 0) {
    cell_ = max_cell;
    return;
  }
  if (p.percent >= 100) {
    cell_ = 1;
    mean_run_ = 1;
    return;
  }
  double run_blocks = std::max(1.0, std::round(static_cast<double>(p.runlength) / kBlockSize));
  double cell = std::max(1.0, std::round(run_blocks * 100 / p.percent));
  cell_ = cell >= static_cast<double>(max_cell) ? max_cell : static_cast<uint64_t>(cell);
  mean_run_ = static_cast<double>(cell_) * p.percent / 100;
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

Layout::Span Layout::span_at(uint64_t block) const {
  const uint64_t cell = block / cell_;
  const uint64_t cell_end = std::min(blocks_, (cell + 1) * cell_);
  const Run r = run_of_cell(cell);
  if (block < r.start) return {false, std::min(r.start, cell_end)};
  if (block < r.end) return {true, std::min(r.end, cell_end)};
  return {false, cell_end};
}

std::byte Layout::block_byte(uint64_t block) const {
  return static_cast<std::byte>(1 + mix64(p_.seed ^ kSaltByte, block) % 255);
}

void Layout::fill_block(uint64_t block, std::span<std::byte> out, uint64_t offset_in_block) const {
  if (!p_.random_content) {
    std::memset(out.data(), static_cast<int>(block_byte(block)), out.size());
    return;
  }
  Xoshiro256 rng(mix64(p_.seed ^ kSaltContent, block));
  const uint64_t first_word = offset_in_block / 8, end = offset_in_block + out.size();
  for (uint64_t w = 0; w < first_word; ++w) rng.next();
  for (uint64_t at = first_word * 8; at < end; at += 8) {
    uint64_t v = rng.next();
    std::byte word[8];
    std::memcpy(word, &v, 8);
    uint64_t lo = std::max(at, offset_in_block), hi = std::min(at + 8, end);
    std::memcpy(out.data() + (lo - offset_in_block), word + (lo - at), hi - lo);
  }
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
