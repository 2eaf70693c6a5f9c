// SPDX-License-Identifier: BSD-3-Clause
// The sparse-random disk, computed on demand from a seed: which 4 KiB blocks hold data, and
// what bytes they hold. Nothing is stored, so a terabyte costs no memory and every run with the
// same parameters gives the same disk. Thread-safe (all methods are const).
#pragma once

#include <cstdint>
#include <span>

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

  // The disk is cut into cells of equal length; each cell holds one run of data blocks (of
  // percent% of the cell on average, jittered) at a position drawn from (seed, cell), so data
  // runs average `runlength` bytes and holes fill the rest.
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
  Run run_of_cell(uint64_t cell) const;
  std::byte block_byte(uint64_t block) const;
  void fill_block(uint64_t block, std::span<std::byte> out, uint64_t offset_in_block) const;

  Params p_;
  uint64_t blocks_ = 0;  // number of blocks, the last one maybe partial
  uint64_t cell_ = 1;    // blocks per cell
  double mean_run_ = 0;  // mean data blocks per cell
  double jitter_ = 0;    // data blocks per cell vary uniformly in mean_run_ +/- jitter_
};

}  // namespace nbd::sparse_random
