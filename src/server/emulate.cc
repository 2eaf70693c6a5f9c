// SPDX-License-Identifier: BSD-3-Clause
// Emulation of missing plugin capabilities (see emulate.h and include/nbd/plugin.h).
#include "server/emulate.h"

#include <algorithm>
#include <cerrno>
#include <vector>

namespace nbd::server {
namespace {

constexpr size_t kZeroChunk = 1 << 20;
const std::byte kZeroes[kZeroChunk] = {};

struct Caps {
  bool write, flush, rotational, trim, zero, fast_zero, extents, multi_conn;
  FuaMode fua;
  CacheMode cache;
};

Result<Caps> query(Connection& c) {
  Caps k{};
  NBD_TRY_ASSIGN(k.write, c.can_write());
  NBD_TRY_ASSIGN(k.flush, c.can_flush());
  NBD_TRY_ASSIGN(k.rotational, c.is_rotational());
  NBD_TRY_ASSIGN(k.trim, c.can_trim());
  NBD_TRY_ASSIGN(k.zero, c.can_zero());
  NBD_TRY_ASSIGN(k.fast_zero, c.can_fast_zero());
  NBD_TRY_ASSIGN(k.extents, c.can_extents());
  NBD_TRY_ASSIGN(k.multi_conn, c.can_multi_conn());
  NBD_TRY_ASSIGN(k.fua, c.can_fua());
  NBD_TRY_ASSIGN(k.cache, c.can_cache());
  if (!k.write) k.trim = k.zero = k.fast_zero = false, k.fua = FuaMode::None;
  if (k.fua == FuaMode::Emulate && !k.flush) k.fua = FuaMode::None;
  return k;
}

class EmulatedConnection final : public Connection {
 public:
  EmulatedConnection(std::unique_ptr<Connection> p, Caps k) : p_(std::move(p)), k_(k) {}

  Result<uint64_t> get_size() override { return p_->get_size(); }
  Result<BlockSize> block_size() override { return p_->block_size(); }
  Result<bool> can_write() override { return k_.write; }
  Result<bool> can_flush() override { return k_.flush; }
  Result<bool> is_rotational() override { return k_.rotational; }
  Result<bool> can_trim() override { return k_.trim; }
  Result<bool> can_zero() override { return k_.write; }
  // Emulated zeroing is slow, so a fast-zero request fails at once: that is "fast".
  Result<bool> can_fast_zero() override { return k_.write && (k_.fast_zero || !k_.zero); }
  Result<bool> can_extents() override { return true; }
  Result<FuaMode> can_fua() override { return k_.fua; }
  Result<bool> can_multi_conn() override { return k_.multi_conn; }
  Result<CacheMode> can_cache() override { return k_.cache; }
  Result<std::string> export_description() override { return p_->export_description(); }

  Status pread(std::span<std::byte> buf, uint64_t offset, uint32_t flags) override {
    return p_->pread(buf, offset, flags & ~kFua);
  }
  Status pwrite(std::span<const std::byte> buf, uint64_t offset, uint32_t flags) override {
    if (!k_.write) return make_error(EROFS, "export is read-only");
    return with_fua(flags, [&](uint32_t f) { return p_->pwrite(buf, offset, f); });
  }
  Status flush(uint32_t flags) override {
    if (!k_.flush) return make_error(EINVAL, "export does not support flush");
    return p_->flush(flags);
  }
  Status trim(uint64_t count, uint64_t offset, uint32_t flags) override {
    if (!k_.trim) return make_error(EINVAL, "export does not support trim");
    return with_fua(flags, [&](uint32_t f) { return p_->trim(count, offset, f); });
  }
  Status zero(uint64_t count, uint64_t offset, uint32_t flags) override;
  Status extents(uint64_t count, uint64_t offset, uint32_t flags, ExtentList& e) override;
  Status cache(uint64_t count, uint64_t offset, uint32_t flags) override;

 private:
  // Native FUA passes the flag down; emulated FUA strips it and flushes afterwards.
  template <class F>
  Status with_fua(uint32_t flags, F&& op) {
    if (!(flags & kFua) || k_.fua == FuaMode::Native) return op(flags);
    if (k_.fua == FuaMode::None) return make_error(EINVAL, "export does not support FUA");
    NBD_TRY(op(flags & ~kFua));
    return p_->flush(0);
  }
  Status write_zeroes(uint64_t count, uint64_t offset, uint32_t flags);

  std::unique_ptr<Connection> p_;
  Caps k_;
};

Status EmulatedConnection::write_zeroes(uint64_t count, uint64_t offset, uint32_t flags) {
  while (count > 0) {
    size_t n = size_t(std::min<uint64_t>(count, kZeroChunk));
    NBD_TRY(p_->pwrite(std::span<const std::byte>(kZeroes, n), offset, 0));
    offset += n;
    count -= n;
  }
  if (flags & kFua) return k_.flush ? p_->flush(0) : make_error(EINVAL, "export does not support FUA");
  return ok();
}

Status EmulatedConnection::zero(uint64_t count, uint64_t offset, uint32_t flags) {
  if (!k_.write) return make_error(EROFS, "export is read-only");
  bool fast = flags & kFastZero;
  if (!k_.zero || (fast && !k_.fast_zero)) {
    if (fast) return make_error(ENOTSUP, "fast zero is not supported by this export");
    return write_zeroes(count, offset, flags);
  }
  Status r = with_fua(flags, [&](uint32_t f) { return p_->zero(count, offset, f); });
  // A plugin may discover only now that it cannot zero this range: fall back, unless fast.
  if (!r && (r.error().errnum == ENOTSUP || r.error().errnum == EOPNOTSUPP) && !fast)
    return write_zeroes(count, offset, flags);
  return r;
}

Status EmulatedConnection::extents(uint64_t count, uint64_t offset, uint32_t flags, ExtentList& e) {
  if (!k_.extents) return e.add(offset, count, 0);
  NBD_TRY(p_->extents(count, offset, flags, e));
  if (e.next_offset() <= offset || e.empty())
    return make_error(EIO, "plugin returned no extents for offset " + std::to_string(offset));
  return ok();
}

Status EmulatedConnection::cache(uint64_t count, uint64_t offset, uint32_t flags) {
  if (k_.cache == CacheMode::Native) return p_->cache(count, offset, flags);
  if (k_.cache == CacheMode::None) return make_error(EINVAL, "export does not support cache");
  std::vector<std::byte> buf(size_t(std::min<uint64_t>(count, kZeroChunk)));
  while (count > 0) {
    size_t n = size_t(std::min<uint64_t>(count, buf.size()));
    NBD_TRY(p_->pread(std::span<std::byte>(buf.data(), n), offset, 0));
    offset += n;
    count -= n;
  }
  return ok();
}

}  // namespace

Result<std::unique_ptr<Connection>> make_emulated_connection(std::unique_ptr<Connection> plugin) {
  NBD_TRY_ASSIGN(Caps k, query(*plugin));
  return std::unique_ptr<Connection>(std::make_unique<EmulatedConnection>(std::move(plugin), k));
}

}  // namespace nbd::server
