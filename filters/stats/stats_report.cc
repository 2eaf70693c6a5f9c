// SPDX-License-Identifier: BSD-3-Clause
// Formatting of the stats filter's report (see stats_report.h).
#include "stats_report.h"

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <vector>

namespace nbd::filters::stats {
namespace {

__attribute__((format(printf, 2, 3))) void append(std::string& out, const char* fmt, ...) {
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  int n = std::vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  if (n > 0) out.append(line, std::min<size_t>(size_t(n), sizeof line - 1));
}

std::string human_rate(uint64_t bytes, uint64_t usecs) {
  double secs = double(usecs) / 1e6;
  return secs != 0 ? human_size(uint64_t(double(bytes) / secs)) : "(n/a)";
}

// Alignment lines of one size bucket: the share of its requests aligned to at least k bits,
// printed where that share changes, until fewer than the cutoff are left.
void append_alignments(std::string& out, const uint64_t (&aligns)[SizeHistogram::kAligns], double threshold) {
  uint64_t total = 0;
  for (uint64_t n : aligns) total += n;
  std::vector<std::pair<int, uint64_t>> at_least;  // (bits, requests aligned to >= bits)
  uint64_t above = aligns[0];                      // offset 0 is aligned to every power of two
  for (int k = SizeHistogram::kAligns - 2; k >= 0; --k) {
    if (aligns[1 + k] == 0) continue;
    above += aligns[1 + k];
    at_least.insert(at_least.begin(), {k, above});
  }
  auto cutoff = uint64_t((1 - threshold) * double(total));
  for (size_t i = 0; i < at_least.size(); ++i) {
    auto [bits, reqs] = at_least[i];
    if (reqs < cutoff) {
      append(out, "         %2d+ bit-aligned: %4.1f%% (%llu)\n", bits, double(reqs) / double(total) * 100,
             (unsigned long long)reqs);
      return;
    }
    if (i + 1 == at_least.size() || at_least[i + 1].second != reqs)
      append(out, "         %2d bit aligned: %5.1f%% (%llu)\n", bits, double(reqs * 100) / double(total),
             (unsigned long long)reqs);
  }
}

// "other sizes" shows the operation's total bytes, not just the remaining sizes': that is what
// upstream prints, and reports are compared with upstream's.
void append_histogram(std::string& out, const SizeHistogram& h, uint64_t op_bytes, double threshold) {
  struct Bucket {
    int bits;
    uint64_t reqs;
  };
  std::vector<Bucket> buckets;
  uint64_t total = 0;
  for (int b = 0; b < SizeHistogram::kBuckets; ++b) {
    uint64_t n = 0;
    for (uint64_t x : h.reqs[b]) n += x;
    if (n) buckets.push_back({b, n});
    total += n;
  }
  // Most frequent first; equal counts by size, smallest first.
  std::stable_sort(buckets.begin(), buckets.end(),
                   [](const Bucket& a, const Bucket& b) { return a.reqs > b.reqs; });
  out += "  Request size and alignment breakdown:\n";
  auto to_print = uint64_t(threshold * double(total));
  uint64_t printed = 0;
  for (const Bucket& bk : buckets) {
    if (printed >= to_print) {
      uint64_t rest = total - printed;
      append(out, "    other sizes: %4.1f%% (%llu reqs, %s total)\n", double(rest) / double(total) * 100,
             (unsigned long long)rest, human_size(op_bytes).c_str());
      break;
    }
    append(out, "    %2d bits: %4.1f%% (%llu reqs, %s total)\n", bk.bits,
           double(bk.reqs) / double(total) * 100, (unsigned long long)bk.reqs,
           human_size(h.bytes[bk.bits]).c_str());
    printed += bk.reqs;
    append_alignments(out, h.reqs[bk.bits], threshold);
  }
  out += "\n";
}

}  // namespace

std::string human_size(uint64_t bytes) {
  constexpr double kKiB = 1024, kMiB = kKiB * 1024, kGiB = kMiB * 1024;
  char s[64];
  if (bytes < 1024)
    std::snprintf(s, sizeof s, "%llu bytes", (unsigned long long)bytes);
  else if (double(bytes) < kMiB)
    std::snprintf(s, sizeof s, "%.2f KiB", double(bytes) / kKiB);
  else if (double(bytes) < kGiB)
    std::snprintf(s, sizeof s, "%.2f MiB", double(bytes) / kMiB);
  else
    std::snprintf(s, sizeof s, "%.2f GiB", double(bytes) / kGiB);
  return s;
}

std::string format_report(std::span<const OpReport> ops, uint64_t total_ops, uint64_t total_bytes,
                          uint64_t elapsed_usecs, double threshold) {
  std::string out;
  append(out, "total: %llu ops, %.6f s, %s, %s/s\n", (unsigned long long)total_ops,
         double(elapsed_usecs) / 1e6, human_size(total_bytes).c_str(),
         human_rate(total_bytes, elapsed_usecs).c_str());
  for (const OpReport& op : ops) {
    if (op.ops == 0) continue;
    append(out, "%.*s: %llu ops, %.6f s, %s, %s/s op, %s/s total\n", int(op.name.size()), op.name.data(),
           (unsigned long long)op.ops, double(op.usecs) / 1e6, human_size(op.bytes).c_str(),
           human_rate(op.bytes, op.usecs).c_str(), human_rate(op.bytes, elapsed_usecs).c_str());
    if (op.hist && threshold > 0) append_histogram(out, *op.hist, op.bytes, threshold);
  }
  return out;
}

}  // namespace nbd::filters::stats
