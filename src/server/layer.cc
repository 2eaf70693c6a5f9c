// SPDX-License-Identifier: BSD-3-Clause
// One layer's boundary: cached answers, checks and emulation (see layer.h).
#include "server/layer.h"

#include <algorithm>
#include <cerrno>
#include <vector>

#include "common/zero.h"

namespace nbd::server {
namespace {

Result<LayerCaps> query(Connection& c, bool readonly) {
  LayerCaps k;
  NBD_TRY_ASSIGN(k.size, c.get_size());
  NBD_TRY_ASSIGN(k.block_size, c.block_size());
  if (!readonly) {
    NBD_TRY_ASSIGN(k.write, c.can_write());
  }
  NBD_TRY_ASSIGN(k.flush, c.can_flush());
  NBD_TRY_ASSIGN(k.rotational, c.is_rotational());
  NBD_TRY_ASSIGN(k.extents, c.can_extents());
  NBD_TRY_ASSIGN(k.multi_conn, c.can_multi_conn());
  NBD_TRY_ASSIGN(k.cache, c.can_cache());
  NBD_TRY_ASSIGN(k.description, c.export_description());
  if (k.write) {  // as upstream, a layer that cannot write is not asked about trim, zero or FUA
    NBD_TRY_ASSIGN(k.trim, c.can_trim());
    NBD_TRY_ASSIGN(k.zero, c.can_zero());
    NBD_TRY_ASSIGN(k.fua, c.can_fua());
    if (k.zero != ZeroMode::None) {
      NBD_TRY_ASSIGN(k.fast_zero, c.can_fast_zero());
    }
  }
  if (k.fua == FuaMode::Emulate && !k.flush) k.fua = FuaMode::None;
  return k;
}

}  // namespace

Result<std::unique_ptr<Layer>> Layer::open(std::unique_ptr<Connection> layer, bool readonly) {
  // The layers below were prepared: they are finalized whatever happens here.
  if (Status s = layer->prepare(readonly); !s) {
    if (Connection* below = layer->lower_layer()) (void)below->finalize();
    return std::move(s).error();
  }
  auto k = query(*layer, readonly);
  std::unique_ptr<Layer> l(new Layer(std::move(layer), k ? std::move(*k) : LayerCaps{}));
  if (!k) {
    (void)l->finalize();
    return std::move(k).error();
  }
  return l;
}

Layer::~Layer() = default;

Status Layer::finalize() {
  if (finalized_) return ok();
  finalized_ = true;
  Status mine = c_->finalize();
  Connection* below = c_->lower_layer();
  Status theirs = below ? below->finalize() : ok();
  return mine ? theirs : mine;
}

Status Layer::check_range(const char* what, uint64_t count, uint64_t offset) const {
  if (offset > k_.size || count > k_.size - offset)
    return make_error(EINVAL, std::string(what) + " beyond the end of the layer (offset " +
                                  std::to_string(offset) + ", count " + std::to_string(count) + ", size " +
                                  std::to_string(k_.size) + ")");
  return ok();
}

// Native FUA passes the flag down; emulated FUA strips it and flushes afterwards.
template <class F>
Status Layer::with_fua(uint32_t flags, F&& op) {
  if (!(flags & kFua) || k_.fua == FuaMode::Native) return op(flags);
  if (k_.fua == FuaMode::None) return make_error(EINVAL, "this layer does not support FUA");
  NBD_TRY(op(flags & ~kFua));
  return c_->flush(0);
}

Status Layer::pread(std::span<std::byte> buf, uint64_t offset, uint32_t flags) {
  NBD_TRY(check_range("read", buf.size(), offset));
  return c_->pread(buf, offset, flags & ~kFua);
}

Status Layer::pwrite(std::span<const std::byte> buf, uint64_t offset, uint32_t flags) {
  if (!k_.write) return make_error(EROFS, "export is read-only");
  NBD_TRY(check_range("write", buf.size(), offset));
  return with_fua(flags, [&](uint32_t f) { return c_->pwrite(buf, offset, f); });
}

Status Layer::flush(uint32_t flags) {
  if (!k_.flush) return make_error(EINVAL, "export does not support flush");
  return c_->flush(flags);
}

Status Layer::trim(uint64_t count, uint64_t offset, uint32_t flags) {
  if (!k_.write) return make_error(EROFS, "export is read-only");
  if (!k_.trim) return make_error(EINVAL, "export does not support trim");
  NBD_TRY(check_range("trim", count, offset));
  return with_fua(flags, [&](uint32_t f) { return c_->trim(count, offset, f); });
}

// With FUA the last write carries it (native) or a flush follows (emulated), as upstream.
Status Layer::write_zeroes(uint64_t count, uint64_t offset, uint32_t flags) {
  return with_fua(flags, [&](uint32_t f) -> Status {
    while (count > 0) {
      size_t n = size_t(std::min<uint64_t>(count, kZeroBufferSize));
      NBD_TRY(c_->pwrite(zero_buffer().first(n), offset, n == count ? (f & kFua) : 0));
      offset += n;
      count -= n;
    }
    return ok();
  });
}

Status Layer::zero(uint64_t count, uint64_t offset, uint32_t flags) {
  if (!k_.write) return make_error(EROFS, "export is read-only");
  if (k_.zero == ZeroMode::None) return make_error(EINVAL, "export does not support zero");
  NBD_TRY(check_range("zero", count, offset));
  bool fast = flags & kFastZero;
  if (k_.zero == ZeroMode::Emulate || (fast && !k_.fast_zero)) {
    if (fast) return make_error(ENOTSUP, "fast zero is not supported by this export");
    return write_zeroes(count, offset, flags);
  }
  Status r = with_fua(flags, [&](uint32_t f) { return c_->zero(count, offset, f); });
  // A layer may discover only now that it cannot zero this range: fall back, unless fast.
  if (!r && (r.error().errnum == ENOTSUP || r.error().errnum == EOPNOTSUPP) && !fast)
    return write_zeroes(count, offset, flags);
  return r;
}

Status Layer::extents(uint64_t count, uint64_t offset, uint32_t flags, ExtentList& e) {
  NBD_TRY(check_range("extents", count, offset));
  if (!k_.extents) return e.add(offset, count, 0);
  NBD_TRY(c_->extents(count, offset, flags, e));
  if (e.next_offset() <= offset || e.empty())
    return make_error(EIO, "no extents were returned for offset " + std::to_string(offset));
  return ok();
}

Status Layer::cache(uint64_t count, uint64_t offset, uint32_t flags) {
  if (k_.cache == CacheMode::None) return make_error(EINVAL, "export does not support cache");
  NBD_TRY(check_range("cache", count, offset));
  if (k_.cache == CacheMode::Native) return c_->cache(count, offset, flags);
  std::vector<std::byte> buf(size_t(std::min<uint64_t>(count, kZeroBufferSize)));
  while (count > 0) {
    size_t n = size_t(std::min<uint64_t>(count, buf.size()));
    NBD_TRY(c_->pread(std::span<std::byte>(buf.data(), n), offset, 0));
    offset += n;
    count -= n;
  }
  return ok();
}

}  // namespace nbd::server
