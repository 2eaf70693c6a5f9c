// SPDX-License-Identifier: BSD-3-Clause
// The sparse-random disk for a seed: which 4 KiB blocks hold data, and what bytes they hold,
// the same as upstream's plugin gives for the same parameters. The data runs are drawn once at
// start (one draw per block, as upstream) and kept as the blocks where data starts and stops;
// bytes are computed on demand. Thread-safe once built (all methods are const).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "nbd/plugin.h"
#include "nbd/result.h"

namespace nbd::sparse_random {

struct Params {
  uint64_t size = 0;
  uint64_t seed = 0;
  double percent = 10;            // share of the disk that holds data, 0..100
  uint64_t runlength = 16 << 20;  // average length of a data run, in bytes
  bool random_content = false;    // every byte random instead of one byte per block
};

class Layout {
 public:
  static constexpr uint64_t kBlockSize = 4096;

  // Disks of more than kMaxChainBlocks blocks (16 TiB), where upstream's one draw per block
  // would take minutes and its bitmap gigabytes, use our own layout instead: cells of equal
  // length, each holding one data run placed by a hash of (seed, cell), O(1) per block.
  static constexpr uint64_t kMaxChainBlocks = uint64_t{1} << 32;

  explicit Layout(const Params& p);

  uint64_t size() const { return p_.size; }

  // Blocks [first, end) that all hold data or all hold nothing, starting at block b.
  struct Span {
    bool data;
    uint64_t end;  // first block after the span (never past the last block)
  };
  Span span_at(uint64_t block) const;
  bool block_has_data(uint64_t block) const { return span_at(block).data; }

  // Fills buf with the disk's bytes at offset (within the disk).
  void read(std::span<std::byte> buf, uint64_t offset) const;
  // True if buf equals the disk's bytes at offset.
  bool matches(std::span<const std::byte> buf, uint64_t offset) const;
  // True if [offset, offset + count) reads as zeroes.
  bool reads_as_zero(uint64_t count, uint64_t offset) const;
  // Reports data and holes from offset on; may stop early after many extents, as NBD allows.
  Status extents(uint64_t count, uint64_t offset, ExtentList& extents) const;

 private:
  struct Run {
    uint64_t start, end;  // data blocks of a cell, absolute block numbers
  };
  void draw_chain();
  void set_data(uint64_t from, uint64_t to);  // in the bitmap
  Span chain_span(uint64_t block) const;
  Span bitmap_span(uint64_t block) const;
  Span cell_span(uint64_t block) const;
  void init_cells();
  Run run_of_cell(uint64_t cell) const;
  std::byte block_byte(uint64_t block) const;
  void fill_block(uint64_t block, std::span<std::byte> out, uint64_t offset_in_block) const;

  Params p_;
  uint64_t blocks_ = 0;  // number of blocks, the last one maybe partial
  enum class Mode { Flips, Bitmap, Cells } mode_ = Mode::Flips;
  // Flips: the blocks where the state changes, ascending; block 0 starts as a hole. When there
  // would be more of them than a bitmap costs, bits_ holds one bit per block instead.
  std::vector<uint64_t> flips_;
  std::vector<uint64_t> bits_;
  // Cells (disks over kMaxChainBlocks):
  uint64_t cell_ = 1;    // blocks per cell
  double mean_run_ = 0;  // mean data blocks per cell
  double jitter_ = 0;    // data blocks per cell vary uniformly in mean_run_ +/- jitter_
};

}  // namespace nbd::sparse_random
