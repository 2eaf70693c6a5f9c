// SPDX-License-Identifier: BSD-3-Clause
// cow filter: a copy-on-write overlay, like upstream's nbdkit-cow-filter. The plugin is opened
// read-only; writes, trims and zeroes go to one overlay (filters/common/block_overlay.h)
// shared by every connection, so a read-only plugin appears writable and is never changed.
#include <bit>
#include <cstring>
#include <string>

#include "block_overlay.h"
#include "nbd/filter.h"
#include "nbd/parse.h"

namespace nbd::filters {
namespace {

struct CowConfig {
  uint32_t block_size = 64 * 1024;
  bool on_cache = false;
  BoolOrPath on_read;
};

// Each block is Absent (read from below), Clean (copied from below by cow-on-read or
// cow-on-cache), Dirty (written) or Zero (trimmed or zeroed). A block's lock is held across
// its read-modify-write so two partial writes to one block never lose each other's bytes.
class CowConnection final : public FilterConnection {
 public:
  CowConnection(std::unique_ptr<Connection> next, const CowConfig& cfg, std::shared_ptr<BlockOverlay> o)
      : FilterConnection(std::move(next)), cfg_(cfg), o_(std::move(o)) {}

  Result<BlockSize> block_size() override { return BlockSize{1, o_->block_size(), UINT32_MAX}; }
  Result<bool> can_write() override { return true; }
  Result<bool> can_flush() override { return true; }
  Result<bool> can_trim() override { return true; }
  Result<ZeroMode> can_zero() override { return ZeroMode::Native; }
  Result<bool> can_fast_zero() override { return true; }
  Result<bool> can_extents() override { return true; }
  Result<FuaMode> can_fua() override { return FuaMode::Native; }  // nothing to persist
  Result<bool> can_multi_conn() override { return true; }         // one overlay for all
  Result<CacheMode> can_cache() override { return CacheMode::Native; }

  Status pread(std::span<std::byte> buf, uint64_t offset, uint32_t) override {
    const bool keep = cfg_.on_read.now();
    return for_each_piece(*o_, offset, buf.size(), [&](const Piece& p) -> Status {
      auto out = buf.subspan(p.pos, p.len);
      auto l = o_->lock(p.block);
      switch (o_->state(p.block)) {
        case BlockState::Clean:
        case BlockState::Dirty: return o_->read(p.block, p.off, out);
        case BlockState::Zero: std::memset(out.data(), 0, out.size()); return ok();
        case BlockState::Absent: break;
      }
      if (!keep) {
        l.unlock();  // below never changes: no need to hold the block
        return next().pread(out, offset + p.pos, 0);
      }
      NBD_TRY(copy_up(p.block));
      return o_->read(p.block, p.off, out);
    });
  }

  Status pwrite(std::span<const std::byte> buf, uint64_t offset, uint32_t) override {
    return for_each_piece(*o_, offset, buf.size(), [&](const Piece& p) -> Status {
      auto in = buf.subspan(p.pos, p.len);
      auto l = o_->lock(p.block);
      // A part of an Absent block needs the rest of the block from below first; a Zero
      // block's file range is a hole, which already reads as the zeroes around the part.
      if (o_->state(p.block) == BlockState::Absent && !p.whole(*o_)) NBD_TRY(copy_up(p.block));
      NBD_TRY(o_->write(p.block, p.off, in));
      o_->set_state(p.block, BlockState::Dirty);
      return ok();
    });
  }

  Status zero(uint64_t count, uint64_t offset, uint32_t) override { return zero_range(count, offset); }
  Status trim(uint64_t count, uint64_t offset, uint32_t) override { return zero_range(count, offset); }
  Status flush(uint32_t) override { return ok(); }  // the overlay is thrown away at exit anyway

  Status extents(uint64_t count, uint64_t offset, uint32_t flags, ExtentList& e) override {
    return overlay_extents(*o_, next(), count, offset, flags, e, [](BlockState s) -> int64_t {
      if (s == BlockState::Zero) return kExtentHole | kExtentZero;
      return s == BlockState::Absent ? -1 : 0;
    });
  }

  Status cache(uint64_t count, uint64_t offset, uint32_t flags) override {
    if (!cfg_.on_cache) {
      NBD_TRY_ASSIGN(CacheMode below, next().can_cache());
      return below == CacheMode::None ? ok() : next().cache(count, offset, flags);
    }
    return for_each_piece(*o_, offset, count, [&](const Piece& p) -> Status {
      auto l = o_->lock(p.block);
      return o_->state(p.block) == BlockState::Absent ? copy_up(p.block) : ok();
    });
  }

 private:
  // Copies Absent block b from below into the overlay as Clean. Called with its lock held.
  Status copy_up(uint64_t b) {
    auto blk = bounce_buffer(o_->block_size());
    NBD_TRY(read_block_below(*o_, next(), b, blk));
    NBD_TRY(o_->write(b, 0, blk.first(o_->block_length(b))));
    o_->set_state(b, BlockState::Clean);
    return ok();
  }

  // Trim and zero alike: whole blocks become Zero (their file range punched); a part of a
  // block is written as zeroes, after a copy-up when the block is Absent.
  Status zero_range(uint64_t count, uint64_t offset) {
    return for_each_piece(*o_, offset, count, [&](const Piece& p) -> Status {
      auto l = o_->lock(p.block);
      const BlockState s = o_->state(p.block);
      if (p.whole(*o_)) {
        if (holds_bytes(s)) NBD_TRY(o_->punch(p.block, 0, p.len));
        o_->set_state(p.block, BlockState::Zero);
        return ok();
      }
      if (s == BlockState::Zero) return ok();
      if (s == BlockState::Absent) NBD_TRY(copy_up(p.block));
      NBD_TRY(o_->punch(p.block, p.off, p.len));
      o_->set_state(p.block, BlockState::Dirty);
      return ok();
    });
  }

  const CowConfig& cfg_;
  std::shared_ptr<BlockOverlay> o_;
};

class CowFilter final : public Filter {
 public:
  Result<bool> config(std::string_view key, std::string_view value) override {
    if (key == "cow-block-size") {
      auto v = parse_size(key, value);
      if (!v) return v.error();
      if (*v < 4096 || *v > (uint64_t(1) << 31) || !std::has_single_bit(*v))
        return make_error(
            EINVAL, "cow: cow-block-size=" + std::string(value) + ": must be a power of 2 from 4096 to 2G");
      cfg_.block_size = uint32_t(*v);
      return true;
    }
    if (key == "cow-on-cache") {
      NBD_TRY_ASSIGN(cfg_.on_cache, parse_bool(key, value));
      return true;
    }
    if (key == "cow-on-read") {
      NBD_TRY(cfg_.on_read.parse(key, value));
      return true;
    }
    return false;
  }

  Status get_ready(ThreadModel) override {
    NBD_TRY_ASSIGN(overlay_, BlockOverlay::create("cow", cfg_.block_size));
    return ok();
  }

  Result<std::unique_ptr<Connection>> open(const OpenParams& params, const NextOpen& next) override {
    if (!overlay_) return make_error(EIO, "cow: opened before get_ready");
    OpenParams below = params;
    below.readonly = true;  // nothing is ever written to the plugin
    NBD_TRY_ASSIGN(auto n, next(below));
    NBD_TRY_ASSIGN(uint64_t size, n->get_size());
    NBD_TRY(overlay_->set_size(size));
    return std::unique_ptr<Connection>(std::make_unique<CowConnection>(std::move(n), cfg_, overlay_));
  }

  std::shared_ptr<BlockOverlay> overlay_for_test() const { return overlay_; }

 private:
  CowConfig cfg_;
  std::shared_ptr<BlockOverlay> overlay_;
};

constexpr ParamHelp kParams[] = {
    {"cow-block-size", "cow-block-size=SIZE  Block size of the overlay (power of 2, 4K..2G; default 64K)."},
    {"cow-on-cache", "cow-on-cache=BOOL  Copy blocks into the overlay on cache requests (default false)."},
    {"cow-on-read", "cow-on-read=BOOL|/PATH  Copy blocks into the overlay on reads (default false)."},
};

}  // namespace

extern const FilterInfo cow_filter_info;
const FilterInfo cow_filter_info{
    .name = "cow",
    .description = "nbdkit copy-on-write (COW) filter",
    .params = kParams,
    .factory = [] { return std::unique_ptr<Filter>(std::make_unique<CowFilter>()); },
};

}  // namespace nbd::filters
