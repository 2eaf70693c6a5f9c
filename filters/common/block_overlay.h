// SPDX-License-Identifier: BSD-3-Clause
// BlockOverlay: the block store the cow and cache filters share. The export is cut into blocks
// of one power-of-two size; each block has a state, and the bytes of the blocks the overlay
// holds live in an unlinked, sparse temporary file. One overlay serves every connection of a
// server, so what one client writes the others read.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/fd.h"
#include "nbd/plugin.h"

namespace nbd::filters {

enum class BlockState : uint8_t {
  Absent = 0,  // not in the overlay: the layer below has the bytes
  Clean,       // in the overlay, the same bytes as below (a read or cache request copied them)
  Dirty,       // in the overlay and newer than below (a write)
  Zero,        // reads as zeroes, nothing stored (cow's trimmed or zeroed block)
};
inline bool holds_bytes(BlockState s) { return s == BlockState::Clean || s == BlockState::Dirty; }

// Thread-safety: block states and bytes are guarded by striped mutexes; take lock(b) before
// state(b), set_state(b), read/write/punch of block b, and hold at most one such lock at a
// time (two blocks may share a stripe). The counters are atomics, readable without a lock.
class BlockOverlay {
 public:
  // who names the filter in errors ("cow"). The file is made in dir (empty: $TMPDIR, else
  // /var/tmp, as upstream) and unlinked at once. lru: also record each block's last use.
  static Result<std::shared_ptr<BlockOverlay>> create(std::string_view who, uint32_t block_size,
                                                      std::string_view dir = {}, bool lru = false);

  // Sets the export size the first time it is called (at the first open); later opens must
  // see the same size, else EIO: the plugin was resized under the overlay.
  Status set_size(uint64_t size);
  uint64_t size() const { return size_.load(std::memory_order_acquire); }
  uint32_t block_size() const { return bs_; }
  uint64_t blocks() const { return blocks_; }
  uint64_t block_of(uint64_t offset) const { return offset >> shift_; }
  uint64_t block_start(uint64_t b) const { return b << shift_; }
  // Bytes of block b inside the export (the last block may be short).
  uint32_t block_length(uint64_t b) const;

  std::unique_lock<std::mutex> lock(uint64_t b) { return std::unique_lock(stripes_[b % kStripes]); }
  BlockState state(uint64_t b) const { return BlockState(states_.get()[b]); }
  void set_state(uint64_t b, BlockState s);

  // Bytes [off, off+buf.size()) of block b in the file; a part never written reads as zeroes.
  // The range may run on into the following blocks (one system call for a run of blocks).
  Status read(uint64_t b, uint32_t off, std::span<std::byte> buf);
  Status write(uint64_t b, uint32_t off, std::span<const std::byte> buf);
  // Makes [off, off+len) of block b read as zeroes and frees the file's space where it can.
  Status punch(uint64_t b, uint32_t off, uint32_t len);

  // Counts blocks taken out of the overlay (reclaim, trim). Bumped before the block's bytes are
  // punched, so a reader that checked states without holding their locks through its read
  // can tell, by an unchanged count after the read, that no block went from under it.
  void note_eviction() { evictions_.fetch_add(1); }
  uint64_t evictions() const { return evictions_.load(); }

  uint64_t held_blocks() const { return held_.load(std::memory_order_relaxed); }
  uint64_t dirty_blocks() const { return dirty_.load(std::memory_order_relaxed); }
  // LRU (only when created with lru): marks block b used now; 0 = never.
  void touch(uint64_t b);
  uint64_t last_use(uint64_t b) const;
  // The file's allocated bytes (st_blocks), for tests and debug messages.
  uint64_t file_bytes_for_test() const;

  BlockOverlay(std::string who, uint32_t bs, Fd fd, bool lru);
  ~BlockOverlay();

 private:
  static constexpr size_t kStripes = 256;
  std::string who_;
  const uint32_t bs_;
  const unsigned shift_;
  Fd fd_;
  const bool lru_;
  std::mutex size_mu_;
  std::atomic<uint64_t> size_{0};
  std::atomic<bool> sized_{false};
  uint64_t blocks_ = 0;
  struct Free {
    void operator()(void* p) const { std::free(p); }
  };
  std::unique_ptr<uint8_t, Free> states_;  // element b guarded by lock(b)
  std::unique_ptr<uint64_t, Free> used_;   // element b read and written through atomic_ref
  std::atomic<uint64_t> clock_{0}, held_{0}, dirty_{0}, evictions_{0};
  std::atomic<bool> can_punch_{true};
  std::mutex stripes_[kStripes];
};

// One piece of a request that falls in one block: [off, off+len) of block b, at pos in the
// request's buffer. for_each_piece stops at the first error.
struct Piece {
  uint64_t block;
  uint32_t off, len;
  uint64_t pos;
  bool whole(const BlockOverlay& o) const { return off == 0 && len == o.block_length(block); }
};
Status for_each_piece(const BlockOverlay& o, uint64_t offset, uint64_t count,
                      const std::function<Status(const Piece&)>& fn);

// A per-thread buffer of at least n bytes, reused (no allocation per request once warm).
std::span<std::byte> bounce_buffer(size_t n);

// Reads all of block b from below into buf (block_length bytes; the rest of buf zeroed).
Status read_block_below(const BlockOverlay& o, Connection& below, uint64_t b, std::span<std::byte> buf);

// Extents for [offset, offset+count) over the overlay: classify(state) gives the flags of a
// block the overlay answers for, or -1 where the layer below is asked (one request per run of
// such blocks). Stops early, as NBD allows, where below answers for less than asked, and
// after the first run with kReqOne. Call with no lock held.
Status overlay_extents(BlockOverlay& o, Connection& below, uint64_t count, uint64_t offset, uint32_t flags,
                       ExtentList& out, const std::function<int64_t(BlockState)>& classify);

// "true"/"false" (any nbdkit boolean) or an absolute path whose existence switches the
// behaviour on at each request, as cow-on-read= and cache-on-read= take.
class BoolOrPath {
 public:
  Status parse(std::string_view key, std::string_view value);
  bool now() const;

 private:
  bool value_ = false;
  std::string path_;
};

}  // namespace nbd::filters
