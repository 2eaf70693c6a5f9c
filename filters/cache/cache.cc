// SPDX-License-Identifier: BSD-3-Clause
// cache filter: keeps blocks of the plugin in a temporary file shared by all connections, like
// upstream's nbdkit-cache-filter: writeback, writethrough or unsafe writes, reads cached on
// request (cache-on-read), and a size limit with least-recently-used reclaim. The block store
// is the one the cow filter uses (filters/common/block_overlay.h).
#include <sys/stat.h>

#include <algorithm>
#include <bit>
#include <string>
#include <vector>

#include "block_overlay.h"
#include "common/temp_dir.h"
#include "nbd/filter.h"
#include "nbd/log.h"
#include "nbd/parse.h"

namespace nbd::filters {
namespace {

enum class Mode { Writeback, Writethrough, Unsafe };

struct CacheConfig {
  Mode mode = Mode::Writeback;
  uint64_t min_block_size = 64 * 1024;
  uint64_t max_size = 0;  // 0: no limit
  uint32_t high = 95, low = 80;
  uint64_t high_bytes = 0, low_bytes = 0;  // max_size × high% and × low%
  BoolOrPath on_read;
};

// What every connection of the server shares: the configuration, the overlay, and the lock
// that lets one request at a time reclaim.
struct CacheShared {
  CacheConfig cfg;
  std::shared_ptr<BlockOverlay> o;
  std::mutex reclaim_mu;
};

// Block states: Absent, Clean (same bytes as the plugin) or Dirty (newer than the plugin,
// written back on flush or when reclaimed). Writes that go "through" (writethrough, or a FUA
// write under writeback) reach the plugin under the block's lock, so the cached copy and the
// plugin never disagree about the order of two writes.
class CacheConnection final : public FilterConnection {
 public:
  CacheConnection(std::unique_ptr<Connection> next, std::shared_ptr<CacheShared> s, bool readonly)
      : FilterConnection(std::move(next)),
        s_(std::move(s)),
        o_(*s_->o),
        mode_(s_->cfg.mode),
        readonly_(readonly) {}

  Result<BlockSize> block_size() override { return BlockSize{1, o_.block_size(), UINT32_MAX}; }
  // Writeback and unsafe flush the cache (or nothing) whatever the plugin has; a read-only
  // connection has nothing of its own to flush (upstream offers the plugin's flush then).
  Result<bool> can_flush() override {
    return mode_ != Mode::Writethrough && !readonly_ ? true : next().can_flush();
  }
  Result<FuaMode> can_fua() override { return mode_ == Mode::Unsafe ? FuaMode::Native : next().can_fua(); }
  Result<ZeroMode> can_zero() override { return ZeroMode::Native; }
  Result<bool> can_fast_zero() override { return true; }
  Result<bool> can_extents() override { return true; }
  Result<bool> can_multi_conn() override { return true; }  // one cache for all connections
  Result<CacheMode> can_cache() override { return CacheMode::Native; }

  Status pread(std::span<std::byte> buf, uint64_t offset, uint32_t) override {
    NBD_TRY_ASSIGN(bool served, read_if_all_held(buf, offset));
    if (served) return ok();
    const bool keep = s_->cfg.on_read.now();
    return piecewise(offset, buf.size(), [&](const Piece& p) -> Status {
      auto out = buf.subspan(p.pos, p.len);
      auto l = o_.lock(p.block);
      if (!holds_bytes(o_.state(p.block))) {
        if (!keep) {
          l.unlock();
          return next().pread(out, offset + p.pos, 0);
        }
        NBD_TRY(copy_up(p.block));
      }
      o_.touch(p.block);
      return o_.read(p.block, p.off, out);
    });
  }

  Status pwrite(std::span<const std::byte> buf, uint64_t offset, uint32_t flags) override {
    const bool through = goes_through(flags);
    return piecewise(offset, buf.size(), [&](const Piece& p) -> Status {
      auto in = buf.subspan(p.pos, p.len);
      auto l = o_.lock(p.block);
      const BlockState s = o_.state(p.block);
      if (through) {
        NBD_TRY(next().pwrite(in, offset + p.pos, flags & kFua));
        return holds_bytes(s) ? o_.write(p.block, p.off, in) : ok();
      }
      if (s == BlockState::Absent && !p.whole(o_)) NBD_TRY(copy_up(p.block));
      NBD_TRY(o_.write(p.block, p.off, in));
      o_.set_state(p.block, BlockState::Dirty);
      o_.touch(p.block);
      return ok();
    });
  }

  Status zero(uint64_t count, uint64_t offset, uint32_t flags) override {
    const bool through = goes_through(flags);
    return piecewise(offset, count, [&](const Piece& p) -> Status {
      auto l = o_.lock(p.block);
      const BlockState s = o_.state(p.block);
      if (through) {
        NBD_TRY(next().zero(p.len, offset + p.pos, flags & (kFua | kMayTrim | kFastZero)));
        return holds_bytes(s) ? o_.punch(p.block, p.off, p.len) : ok();
      }
      // A block the overlay does not hold is a hole in the file already: a whole one just
      // becomes Dirty; a part needs the rest of the block first.
      if (s == BlockState::Absent && !p.whole(o_)) NBD_TRY(copy_up(p.block));
      if (holds_bytes(o_.state(p.block))) NBD_TRY(o_.punch(p.block, p.off, p.len));
      o_.set_state(p.block, BlockState::Dirty);
      o_.touch(p.block);
      return ok();
    });
  }

  // Passed down in every mode, as upstream; whole blocks leave the cache (dirty or not: their
  // bytes were discarded), parts of blocks keep what they hold, which a trim allows.
  Status trim(uint64_t count, uint64_t offset, uint32_t flags) override {
    NBD_TRY(for_each_piece(o_, offset, count, [&](const Piece& p) -> Status {
      if (!p.whole(o_)) return ok();
      auto l = o_.lock(p.block);
      return drop(p.block);
    }));
    return next().trim(count, offset, flags);
  }

  Status flush(uint32_t) override {
    if (mode_ == Mode::Unsafe) return ok();
    if (mode_ == Mode::Writeback) NBD_TRY(write_back_all());
    NBD_TRY_ASSIGN(bool below, next().can_flush());
    return below ? next().flush(0) : ok();
  }

  Status cache(uint64_t count, uint64_t offset, uint32_t) override {
    return piecewise(offset, count, [&](const Piece& p) -> Status {
      auto l = o_.lock(p.block);
      if (o_.state(p.block) == BlockState::Absent) NBD_TRY(copy_up(p.block));
      o_.touch(p.block);
      return ok();
    });
  }

  // Dirty blocks are data whatever the plugin says about their range (upstream 1.32 asks the
  // plugin alone, so a block written over a hole is reported as a hole until flushed).
  Status extents(uint64_t count, uint64_t offset, uint32_t flags, ExtentList& e) override {
    return overlay_extents(o_, next(), count, offset, flags, e,
                           [](BlockState s) -> int64_t { return s == BlockState::Dirty ? 0 : -1; });
  }

 private:
  // Runs fn on each block's piece of a request, then reclaims if that took the cache over its
  // high mark (fn's block lock is released by then).
  Status piecewise(uint64_t offset, uint64_t count, const std::function<Status(const Piece&)>& fn) {
    return for_each_piece(o_, offset, count, [&](const Piece& p) -> Status {
      NBD_TRY(fn(p));
      return maybe_reclaim();
    });
  }

  // The warm path: when the cache holds every block of the request, one read of the file
  // serves it (one system call instead of one per block). If a block was evicted
  // meanwhile (its bytes may have been punched mid-read), the caller goes block by block.
  Result<bool> read_if_all_held(std::span<std::byte> buf, uint64_t offset) {
    const uint64_t first = o_.block_of(offset), last = o_.block_of(offset + buf.size() - 1);
    if (buf.empty() || last - first > 64) return false;
    const uint64_t seen = o_.evictions();
    for (uint64_t b = first; b <= last; ++b) {
      auto l = o_.lock(b);
      if (!holds_bytes(o_.state(b))) return false;
      o_.touch(b);
    }
    NBD_TRY(o_.read(first, uint32_t(offset - o_.block_start(first)), buf));
    return o_.evictions() == seen;
  }

  bool goes_through(uint32_t flags) const {
    return mode_ == Mode::Writethrough || (mode_ == Mode::Writeback && (flags & kFua));
  }

  // With block b's lock held.
  Status copy_up(uint64_t b) {
    auto blk = bounce_buffer(o_.block_size());
    NBD_TRY(read_block_below(o_, next(), b, blk));
    NBD_TRY(o_.write(b, 0, blk.first(o_.block_length(b))));
    o_.set_state(b, BlockState::Clean);
    return ok();
  }
  Status write_back(uint64_t b) {
    if (o_.state(b) != BlockState::Dirty) return ok();
    auto blk = bounce_buffer(o_.block_size()).first(o_.block_length(b));
    NBD_TRY(o_.read(b, 0, blk));
    NBD_TRY(next().pwrite(blk, o_.block_start(b), 0));
    o_.set_state(b, BlockState::Clean);
    return ok();
  }
  Status drop(uint64_t b) {
    if (!holds_bytes(o_.state(b))) return ok();
    o_.note_eviction();
    NBD_TRY(o_.punch(b, 0, o_.block_length(b)));
    o_.set_state(b, BlockState::Absent);
    return ok();
  }
  Status write_back_all() {
    for (uint64_t b = 0; b < o_.blocks() && o_.dirty_blocks() > 0; ++b) {
      auto l = o_.lock(b);
      NBD_TRY(write_back(b));
    }
    return ok();
  }

  // Above cache-max-size × high%, evicts least recently used blocks (writing dirty ones back
  // first) until the cache is under max × low%. One request reclaims at a time; the others
  // carry on, so the cache can pass the high mark by what is in flight.
  Status maybe_reclaim() {
    const CacheConfig& c = s_->cfg;
    const uint64_t bs = o_.block_size();
    if (c.max_size == 0 || o_.held_blocks() * bs <= c.high_bytes) return ok();
    std::unique_lock r(s_->reclaim_mu, std::try_to_lock);
    if (!r) return ok();
    std::vector<std::pair<uint64_t, uint64_t>> lru;  // (last use, block)
    for (uint64_t b = 0; b < o_.blocks(); ++b) {
      auto l = o_.lock(b);
      if (holds_bytes(o_.state(b))) lru.emplace_back(o_.last_use(b), b);
    }
    std::sort(lru.begin(), lru.end());
    for (auto [used, b] : lru) {
      if (o_.held_blocks() * bs <= c.low_bytes) break;
      auto l = o_.lock(b);
      if (o_.last_use(b) != used) continue;  // used again since the scan: keep it
      if (auto st = write_back(b); !st) {
        log::error("cache: reclaim: writing block %llu back failed: %s", (unsigned long long)b,
                   st.error().message.c_str());
        return st;
      }
      NBD_TRY(drop(b));
    }
    return ok();
  }

  std::shared_ptr<CacheShared> s_;
  BlockOverlay& o_;
  const Mode mode_;
  const bool readonly_;
};

Result<uint32_t> parse_percent(std::string_view key, std::string_view value) {
  NBD_TRY_ASSIGN(uint32_t v, parse_uint32(key, value));
  if (v == 0)
    return make_error(EINVAL,
                      "cache: " + std::string(key) + "=" + std::string(value) + ": must be greater than 0");
  return v;
}

uint64_t percent_of(uint64_t size, uint32_t pct) {
  unsigned __int128 v = (unsigned __int128)size * pct / 100;
  return v > UINT64_MAX ? UINT64_MAX : uint64_t(v);
}

class CacheFilter final : public Filter {
 public:
  Result<bool> config(std::string_view key, std::string_view value) override {
    CacheConfig& c = s_->cfg;
    if (key == "cache") {
      if (value == "writeback")
        c.mode = Mode::Writeback;
      else if (value == "writethrough")
        c.mode = Mode::Writethrough;
      else if (value == "unsafe")
        c.mode = Mode::Unsafe;
      else
        return make_error(EINVAL,
                          "cache: cache=" + std::string(value) + ": use writeback, writethrough or unsafe");
      return true;
    }
    if (key == "cache-min-block-size") {
      NBD_TRY_ASSIGN(c.min_block_size, parse_size(key, value));
      if (c.min_block_size < 4096 || c.min_block_size > (uint64_t(1) << 31) ||
          !std::has_single_bit(c.min_block_size))
        return make_error(EINVAL, "cache: cache-min-block-size=" + std::string(value) +
                                      ": must be a power of 2 from 4096 to 2G");
      return true;
    }
    if (key == "cache-max-size") {
      NBD_TRY_ASSIGN(c.max_size, parse_size(key, value));
      if (c.max_size < 1024 * 1024)
        return make_error(EINVAL,
                          "cache: cache-max-size=" + std::string(value) + ": too small (at least 1M)");
      return true;
    }
    if (key == "cache-high-threshold") {
      NBD_TRY_ASSIGN(c.high, parse_percent(key, value));
      return true;
    }
    if (key == "cache-low-threshold") {
      NBD_TRY_ASSIGN(c.low, parse_percent(key, value));
      return true;
    }
    if (key == "cache-on-read") {
      NBD_TRY(c.on_read.parse(key, value));
      return true;
    }
    return false;
  }

  Status config_complete() override {
    CacheConfig& c = s_->cfg;
    if (c.max_size && c.low >= c.high)
      return make_error(EINVAL, "cache: cache-low-threshold=" + std::to_string(c.low) +
                                    " must be less than cache-high-threshold=" + std::to_string(c.high));
    c.high_bytes = percent_of(c.max_size, c.high);
    c.low_bytes = percent_of(c.max_size, c.low);
    return ok();
  }

  // The block size is the larger of cache-min-block-size and the temporary filesystem's block
  // size, as upstream's.
  Status get_ready(ThreadModel) override {
    CacheConfig& c = s_->cfg;
    uint64_t bs = c.min_block_size;
    struct stat st {};
    if (::stat(temp_base("/var/tmp").c_str(), &st) == 0 && st.st_blksize > 0)
      bs = std::max<uint64_t>(bs, std::bit_ceil(uint64_t(st.st_blksize)));
    NBD_TRY_ASSIGN(s_->o, BlockOverlay::create("cache", uint32_t(std::min<uint64_t>(bs, uint64_t(1) << 31)),
                                               {}, c.max_size != 0));
    return ok();
  }

  Result<std::unique_ptr<Connection>> open(const OpenParams& params, const NextOpen& next) override {
    if (!s_->o) return make_error(EIO, "cache: opened before get_ready");
    NBD_TRY_ASSIGN(auto n, next(params));
    NBD_TRY_ASSIGN(uint64_t size, n->get_size());
    NBD_TRY(s_->o->set_size(size));
    return std::unique_ptr<Connection>(std::make_unique<CacheConnection>(std::move(n), s_, params.readonly));
  }

 private:
  std::shared_ptr<CacheShared> s_ = std::make_shared<CacheShared>();
};

constexpr ParamHelp kParams[] = {
    {"cache", "cache=MODE  One of writeback (default), writethrough or unsafe."},
    {"cache-on-read", "cache-on-read=BOOL|/PATH  Cache reads too (default false)."},
    {"cache-min-block-size",
     "cache-min-block-size=SIZE  Minimum block size (power of 2, >= 4K; default 64K)."},
    {"cache-max-size", "cache-max-size=SIZE  Maximum space used by the cache (at least 1M)."},
    {"cache-high-threshold",
     "cache-high-threshold=PCT  Percentage of the maximum size where reclaim begins (95)."},
    {"cache-low-threshold",
     "cache-low-threshold=PCT  Percentage of the maximum size where reclaim ends (80)."},
};

}  // namespace

extern const FilterInfo cache_filter_info;
const FilterInfo cache_filter_info{
    .name = "cache",
    .description = "nbdkit caching filter",
    .params = kParams,
    .factory = [] { return std::unique_ptr<Filter>(std::make_unique<CacheFilter>()); },
};

}  // namespace nbd::filters
