// SPDX-License-Identifier: BSD-3-Clause
// The decoded-block cache of the xz filter (see block_cache.h).
#include "block_cache.h"

#include <cstring>

namespace nbd::filters::xz {

BlockCache::Slot* BlockCache::victim() {
  Slot* best = nullptr;
  for (auto& s : slots_) {
    if (s->pins > 0) continue;
    if (s->block == Slot::kNone) return s.get();
    if (!best || s->last_use < best->last_use) best = s.get();
  }
  if (slots_.size() < depth_) {
    slots_.push_back(std::make_unique<Slot>());
    return slots_.back().get();
  }
  return best;
}

Status BlockCache::read(size_t block, uint64_t block_size, uint64_t in, std::span<std::byte> out) {
  std::unique_lock lock(mu_);
  Slot* slot = nullptr;
  for (;;) {
    slot = nullptr;
    for (auto& s : slots_)
      if (s->block == block) slot = s.get();
    if (slot && slot->ready) break;
    if (slot) {  // another thread is decoding it
      decoded_.wait(lock);
      continue;
    }
    slot = victim();
    ++decodes_;
    if (!slot) {
      // Every slot is being read or decoded (more blocks in flight than xz-max-depth): decode
      // this one for this request only.
      lock.unlock();
      std::unique_ptr<std::byte[]> tmp(new std::byte[block_size]);
      NBD_TRY(decode_(block, {tmp.get(), block_size}));
      std::memcpy(out.data(), tmp.get() + in, out.size());
      return ok();
    }
    slot->block = block;
    slot->ready = false;
    slot->pins = 1;
    lock.unlock();
    // Only this thread touches the slot's buffer until it is marked ready under the lock.
    if (slot->cap < block_size) {
      slot->data.reset();
      slot->data.reset(new std::byte[block_size]);
      slot->cap = block_size;
    }
    Status s = decode_(block, {slot->data.get(), block_size});
    lock.lock();
    slot->pins = 0;
    if (!s) {
      slot->block = Slot::kNone;
      decoded_.notify_all();
      return s;
    }
    slot->ready = true;
    decoded_.notify_all();
    break;
  }
  ++slot->pins;
  slot->last_use = ++tick_;
  lock.unlock();
  std::memcpy(out.data(), slot->data.get() + in, out.size());
  lock.lock();
  --slot->pins;
  return ok();
}

uint64_t BlockCache::decodes_for_test() const {
  std::lock_guard lock(mu_);
  return decodes_;
}

}  // namespace nbd::filters::xz
