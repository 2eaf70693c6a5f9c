// SPDX-License-Identifier: BSD-3-Clause
// The stats filter's report, in upstream nbdkit-stats-filter's layout: a total line, one line
// per operation, and for data operations a breakdown of request sizes and offset alignments.
// Pure formatting over plain counts, so it is tested without a server.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace nbd::filters::stats {

// Requests by size bucket (floor(log2(count)), "12 bits" = 4096..8191 bytes) and by the
// alignment of their offset: index 0 counts offset 0 (aligned to anything), index 1 + k
// offsets with exactly k trailing zero bits.
struct SizeHistogram {
  static constexpr int kBuckets = 64, kAligns = 65;
  uint64_t reqs[kBuckets][kAligns] = {};
  uint64_t bytes[kBuckets] = {};  // sum of the request sizes in each bucket
};

struct OpReport {
  std::string_view name;  // "read", "write", ...
  uint64_t ops = 0, bytes = 0, usecs = 0;
  const SizeHistogram* hist = nullptr;  // null: no breakdown (flush)
};

// "512 bytes", "3.48 KiB", "1.00 MiB", "2.50 GiB".
std::string human_size(uint64_t bytes);

// The whole report. threshold is statsthreshold as a fraction (0 = no breakdowns): sizes are
// listed, most frequent first, until they cover that share of the requests, and alignments
// until fewer than (1 - threshold) of the bucket's requests are left.
std::string format_report(std::span<const OpReport> ops, uint64_t total_ops, uint64_t total_bytes,
                          uint64_t elapsed_usecs, double threshold);

}  // namespace nbd::filters::stats
