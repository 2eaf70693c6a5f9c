// SPDX-License-Identifier: BSD-3-Clause
// The xz filter's cache of decoded blocks: at most `depth` blocks, least recently used out
// first. Each block is decoded by one thread while others wanting the same block wait for it;
// different blocks decode at the same time (the lock is never held while decoding or copying).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "nbd/result.h"

namespace nbd::filters::xz {

class BlockCache {
 public:
  // Fills out (exactly the block's size) with block `block`'s data. Called without the lock,
  // from several threads at once for different blocks.
  using Decode = std::function<Status(size_t block, std::span<std::byte> out)>;

  BlockCache(size_t depth, Decode decode) : depth_(depth), decode_(std::move(decode)) {}

  // Copies out.size() bytes from offset `in` of block `block` (block_size bytes long) into
  // out, decoding the block first unless it is cached. A failed decode is not cached: the
  // next read of that block tries again (and fails again on a corrupt file). Thread-safe.
  Status read(size_t block, uint64_t block_size, uint64_t in, std::span<std::byte> out);

  // How many times a block was decoded (for tests: cache hits do not count).
  uint64_t decodes_for_test() const;

 private:
  struct Slot {
    static constexpr size_t kNone = SIZE_MAX;
    size_t block = kNone;
    bool ready = false;  // data holds the block; else the slot is empty or being decoded
    unsigned pins = 0;   // readers copying from data, or the one decoding into it
    uint64_t last_use = 0;
    std::unique_ptr<std::byte[]> data;
    uint64_t cap = 0;
  };
  // The slot to decode into: an empty one, a new one while fewer than depth_, else the least
  // recently used that nobody is reading. Null when every slot is in use. Needs mu_.
  Slot* victim();

  const size_t depth_;
  const Decode decode_;
  mutable std::mutex mu_;
  std::condition_variable decoded_;
  std::vector<std::unique_ptr<Slot>> slots_;  // grows up to depth_
  uint64_t tick_ = 0, decodes_ = 0;
};

}  // namespace nbd::filters::xz
