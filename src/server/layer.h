// SPDX-License-Identifier: BSD-3-Clause
// The boundary of one layer of the stack (a filter's or the plugin's connection), as upstream's
// core has one per backend: the layer is prepared, its can_* are asked once and cached, every
// request entering it is checked against its own answers, and what it lacks is emulated here
// (FUA by flush, zero by writing zeroes, cache by reading, extents as data). The layer above
// (a filter's next(), or the session for the outermost) only ever sees a Layer.
#pragma once

#include <memory>

#include "nbd/plugin.h"

namespace nbd::server {

// One layer's answers, fixed for the life of the context. After open they are normalized:
// a read-only context cannot write, trim, zero or FUA; emulated FUA needs flush.
struct LayerCaps {
  uint64_t size = 0;
  bool write = false, flush = false, rotational = false, trim = false, fast_zero = false;
  bool extents = false, multi_conn = false;
  ZeroMode zero = ZeroMode::None;
  FuaMode fua = FuaMode::None;
  CacheMode cache = CacheMode::None;
  BlockSize block_size;
  std::string description;
};

class Layer final : public Connection {
 public:
  // Runs the layer's prepare, then asks its can_* once; fails if any of them fails. readonly
  // is the context's (OpenParams::readonly): it forces can_write false.
  static Result<std::unique_ptr<Layer>> open(std::unique_ptr<Connection> layer, bool readonly);
  ~Layer() override;

  const LayerCaps& caps() const { return k_; }

  Result<uint64_t> get_size() override { return k_.size; }
  Result<BlockSize> block_size() override { return k_.block_size; }
  Result<bool> can_write() override { return k_.write; }
  Result<bool> can_flush() override { return k_.flush; }
  Result<bool> is_rotational() override { return k_.rotational; }
  Result<bool> can_trim() override { return k_.trim; }
  Result<ZeroMode> can_zero() override { return k_.zero; }
  Result<bool> can_fast_zero() override { return k_.fast_zero; }
  Result<bool> can_extents() override { return k_.extents; }
  Result<FuaMode> can_fua() override { return k_.fua; }
  Result<bool> can_multi_conn() override { return k_.multi_conn; }
  Result<CacheMode> can_cache() override { return k_.cache; }
  Result<std::string> export_description() override { return k_.description; }

  Status pread(std::span<std::byte> buf, uint64_t offset, uint32_t flags) override;
  Status pwrite(std::span<const std::byte> buf, uint64_t offset, uint32_t flags) override;
  Status flush(uint32_t flags) override;
  Status trim(uint64_t count, uint64_t offset, uint32_t flags) override;
  Status zero(uint64_t count, uint64_t offset, uint32_t flags) override;
  Status extents(uint64_t count, uint64_t offset, uint32_t flags, ExtentList& e) override;
  Status cache(uint64_t count, uint64_t offset, uint32_t flags) override;

  // Already prepared by open(): a second prepare is a no-op.
  Status prepare(bool) override { return ok(); }
  // Finalizes this layer, then the layers below it, outermost first; once.
  Status finalize() override;
  Connection* lower_layer() override { return nullptr; }

 private:
  Layer(std::unique_ptr<Connection> layer, LayerCaps k) : c_(std::move(layer)), k_(std::move(k)) {}
  Status check_range(const char* what, uint64_t count, uint64_t offset) const;
  template <class F>
  Status with_fua(uint32_t flags, F&& op);
  Status write_zeroes(uint64_t count, uint64_t offset, uint32_t flags);

  std::unique_ptr<Connection> c_;
  LayerCaps k_;
  bool finalized_ = false;
};

}  // namespace nbd::server
