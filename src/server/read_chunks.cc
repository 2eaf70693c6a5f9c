// SPDX-License-Identifier: BSD-3-Clause
// Holes on the wire: a large read under structured replies goes out as OFFSET_DATA and
// OFFSET_HOLE chunks (sent by send_read_chunks in execute.cc), so the parts that read as zeroes cost a
// 32-byte chunk instead of their payload (qemu-nbd does the same; upstream nbdkit sends all data). Two ways
// to find them:
//   - Extents: the stack is the plugin alone and it reports extents: ask them first and read
//     only the data; the plugin has said the rest reads as zeroes.
//   - Scan: filters are in the stack, or the plugin has no extents: read the whole range as
//     always (every filter sees the same preads as before, so error, delay, rate, log and the
//     counters behave as upstream's) and send the 4 KiB blocks that came back all zero as holes.
#include <algorithm>
#include <chrono>

#include "common/zero.h"
#include "server/transmission.h"

namespace nbd::server {

using namespace nbd::protocol;

namespace {

// An extents call slower than this (a remote plugin's round trip) costs a read more than the
// holes save on a local socket: after kSlowStreak such calls in a row, the next
// kHoleProbeSkip large reads are sent as data. (One slow call, a page fault or a busy moment,
// changes nothing.)
constexpr int64_t kSlowExtentsNs = 50'000;
constexpr uint32_t kSlowStreak = 8;
constexpr uint32_t kHoleProbeSkip = 4096;

// Appends [a, b) to the plan, merged with the last piece when of the same kind.
void add(std::vector<ReadChunk>& plan, uint64_t a, uint64_t b, bool hole) {
  if (!plan.empty() && plan.back().hole == hole)
    plan.back().length += b - a;
  else
    plan.push_back({a, b - a, hole});
}

// Zero runs under kHoleMinLength become data (merged with their neighbours); true when a hole
// is left and the reply stays within kMaxReadChunks chunks.
// Merged in place (the write index never passes the read index): nothing allocated per read.
bool worth_chunking(std::vector<ReadChunk>& plan) {
  size_t w = 0;
  bool any_hole = false;
  for (size_t i = 0; i < plan.size(); ++i) {
    ReadChunk k = plan[i];
    k.hole = k.hole && k.length >= kHoleMinLength;
    any_hole |= k.hole;
    if (w > 0 && plan[w - 1].hole == k.hole)
      plan[w - 1].length += k.length;
    else
      plan[w++] = k;
  }
  plan.resize(w);
  return any_hole && plan.size() <= kMaxReadChunks;
}

}  // namespace

HoleMode hole_mode_for(const ExportCaps& caps, Connection& top, size_t filters) {
  if (!caps.structured) return HoleMode::None;
  return filters == 0 && top.can_extents().value_or(false) ? HoleMode::Extents : HoleMode::Scan;
}

bool Transmitter::plan_chunks_from_extents(Workspace& ws, const Request& r) {
  if (uint32_t skip = hole_skip_.load(std::memory_order_relaxed)) {
    hole_skip_.store(skip - 1, std::memory_order_relaxed);  // a decrement lost to a race is harmless
    return false;
  }
  const uint64_t end = r.offset + r.length;
  ws.extents.reset(r.offset, end);
  auto t0 = std::chrono::steady_clock::now();
  Status s = locked("extents", [&] { return conn_.extents(r.length, r.offset, 0, ws.extents); });
  if (std::chrono::steady_clock::now() - t0 <= std::chrono::nanoseconds(kSlowExtentsNs)) {
    slow_extents_.store(0, std::memory_order_relaxed);
  } else if (slow_extents_.fetch_add(1, std::memory_order_relaxed) + 1 >= kSlowStreak) {
    slow_extents_.store(0, std::memory_order_relaxed);
    hole_skip_.store(kHoleProbeSkip, std::memory_order_relaxed);
  }
  if (!s) return false;  // the read itself will say what is wrong
  ws.chunks.clear();
  uint64_t pos = r.offset;
  for (const Extent& e : ws.extents.extents()) {
    uint64_t a = std::max(e.offset, pos), b = std::min(e.end(), end);
    if (a >= b || a != pos) break;  // a gap in what was reported: the rest is data
    add(ws.chunks, a, b, e.reads_as_zero());
    pos = b;
  }
  if (pos < end) add(ws.chunks, pos, end, false);
  return worth_chunking(ws.chunks);
}

bool Transmitter::plan_chunks_from_zeroes(Workspace& ws, const Request& r, std::span<const std::byte> buf) {
  ws.chunks.clear();
  const uint64_t end = r.offset + r.length;
  for (uint64_t a = r.offset; a < end;) {
    uint64_t b = std::min(end, (a / kHoleMinLength + 1) * kHoleMinLength);  // 4 KiB aligned blocks
    add(ws.chunks, a, b, is_zero(buf.subspan(size_t(a - r.offset), size_t(b - a))));
    if (ws.chunks.size() > 2 * kMaxReadChunks) return false;  // fragmented: not worth it
    a = b;
  }
  return worth_chunking(ws.chunks);
}

}  // namespace nbd::server
