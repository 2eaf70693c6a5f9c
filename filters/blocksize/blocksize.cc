// SPDX-License-Identifier: BSD-3-Clause
// blocksize filter: lets any client talk to a plugin that is fussy about request sizes, like
// upstream's nbdkit-blocksize-filter. Requests are split to maxdata (reads, writes) or maxlen
// (zero, trim, cache, extents); unaligned heads and tails are read whole blocks (reads),
// read-modify-written (writes, zeroes) or dropped (trims), so the plugin only sees minblock-
// aligned requests; the size is rounded down to minblock.
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <shared_mutex>
#include <vector>

#include "nbd/filter.h"
#include "nbd/parse.h"

namespace nbd::filters {
namespace {

constexpr uint32_t kMinBlockLimit = 64 * 1024;
constexpr uint32_t kDefaultMaxData = 64 * 1024 * 1024;

uint64_t round_down(uint64_t v, uint64_t a) { return v / a * a; }
uint64_t round_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

struct Limits {
  uint32_t minblock = 0, maxdata = 0, maxlen = 0;  // 0: not set (the plugin's or the default)
};

// Shared by every connection: a read-modify-write must not interleave with another write to
// the same block, from any connection. Aligned writes share the lock; RMW cycles (and reads
// through the bounce buffer) hold it alone.
struct Shared {
  std::shared_mutex lock;
  std::vector<std::byte> bounce = std::vector<std::byte>(kMinBlockLimit);
};

// Merges extents so each boundary falls on a multiple of mb: a block that straddles extents
// gets the flags all of them share (data wins over hole, non-zero over zero).
Status add_aligned(const std::vector<Extent>& in, uint64_t mb, ExtentList& out) {
  size_t i = 0;
  uint64_t pos = in.empty() ? 0 : in.front().offset;
  while (i < in.size()) {
    const Extent& e = in[i];
    if (e.end() <= pos) {
      ++i;
      continue;
    }
    if (e.end() - pos >= mb) {
      uint64_t len = round_down(e.end() - pos, mb);
      NBD_TRY(out.add(pos, len, e.flags));
      pos += len;
      continue;
    }
    uint64_t flags = kExtentHole | kExtentZero, end = pos + mb;
    size_t j = i;
    for (; j < in.size() && in[j].offset < end; ++j) flags &= in[j].flags;
    end = std::min(end, in[j - 1].end());  // the plugin may have stopped inside the block
    NBD_TRY(out.add(pos, end - pos, flags));
    pos = end;
  }
  return ok();
}

class BlocksizeConnection final : public FilterConnection {
 public:
  BlocksizeConnection(std::unique_ptr<Connection> next, Limits cfg, Shared& shared)
      : FilterConnection(std::move(next)), l_(cfg), sh_(shared) {}

  // As upstream: the plugin's minimum and maximum fill in what was not configured.
  Status prepare(bool) override {
    NBD_TRY_ASSIGN(BlockSize bs, next().block_size());
    l_.minblock = std::max({l_.minblock, uint32_t(1), bs.minimum});
    if (l_.maxdata == 0) l_.maxdata = l_.maxlen ? std::min(l_.maxlen, kDefaultMaxData) : kDefaultMaxData;
    if (bs.maximum) l_.maxdata = std::min(l_.maxdata, bs.maximum);
    l_.maxdata = uint32_t(round_down(l_.maxdata, l_.minblock));
    l_.maxlen = l_.maxlen ? uint32_t(round_down(l_.maxlen, l_.minblock)) : uint32_t(0) - l_.minblock;
    if (l_.maxdata == 0 || l_.minblock > kMinBlockLimit)
      return make_error(EINVAL, "blocksize: the plugin's block size limits (minimum " +
                                    std::to_string(bs.minimum) + ", maximum " + std::to_string(bs.maximum) +
                                    ") cannot be met");
    return ok();
  }

  Result<uint64_t> get_size() override {
    NBD_TRY_ASSIGN(uint64_t size, next().get_size());
    return round_down(size, l_.minblock);
  }
  // Clients may send any size now: advertise the widest limits, and a preferred size the
  // plugin will not need to RMW.
  Result<BlockSize> block_size() override {
    NBD_TRY_ASSIGN(BlockSize bs, next().block_size());
    return BlockSize{1, std::max({bs.preferred, uint32_t(4096), l_.minblock}), UINT32_MAX};
  }

  Status pread(std::span<std::byte> buf, uint64_t offset, uint32_t flags) override {
    const uint64_t mb = l_.minblock;
    if (uint64_t drop = offset % mb) {
      size_t keep = std::min<size_t>(mb - drop, buf.size());
      std::unique_lock l(sh_.lock);
      NBD_TRY(next().pread(bounce(), offset - drop, flags));
      std::memcpy(buf.data(), sh_.bounce.data() + drop, keep);
      buf = buf.subspan(keep);
      offset += keep;
    }
    while (buf.size() >= mb) {
      size_t n = std::min<uint64_t>(l_.maxdata, round_down(buf.size(), mb));
      NBD_TRY(next().pread(buf.first(n), offset, flags));
      buf = buf.subspan(n);
      offset += n;
    }
    if (!buf.empty()) {
      std::unique_lock l(sh_.lock);
      NBD_TRY(next().pread(bounce(), offset, flags));
      std::memcpy(buf.data(), sh_.bounce.data(), buf.size());
    }
    return ok();
  }

  Status pwrite(std::span<const std::byte> buf, uint64_t offset, uint32_t flags) override {
    const uint64_t mb = l_.minblock;
    if (uint64_t drop = offset % mb) {
      size_t keep = std::min<size_t>(mb - drop, buf.size());
      NBD_TRY(rmw(offset - drop, drop, keep, buf.data(), flags));
      buf = buf.subspan(keep);
      offset += keep;
    }
    while (buf.size() >= mb) {
      size_t n = std::min<uint64_t>(l_.maxdata, round_down(buf.size(), mb));
      std::shared_lock l(sh_.lock);
      NBD_TRY(next().pwrite(buf.first(n), offset, flags));
      buf = buf.subspan(n);
      offset += n;
    }
    if (!buf.empty()) NBD_TRY(rmw(offset, 0, buf.size(), buf.data(), flags));
    return ok();
  }

  Status zero(uint64_t count, uint64_t offset, uint32_t flags) override {
    const uint64_t mb = l_.minblock;
    // A zero split in pieces is not fast: an ENOTSUP from a later piece would come too late.
    if ((flags & kFastZero) && ((offset | count) % mb || count > l_.maxlen))
      return make_error(ENOTSUP, "blocksize: fast zero of an unaligned or too large range");
    if (uint64_t drop = offset % mb) {
      uint64_t keep = std::min(mb - drop, count);
      NBD_TRY(rmw(offset - drop, drop, keep, nullptr, flags & ~kMayTrim));
      count -= keep;
      offset += keep;
    }
    while (count >= mb) {
      uint64_t n = std::min<uint64_t>(l_.maxlen, round_down(count, mb));
      std::shared_lock l(sh_.lock);
      NBD_TRY(next().zero(n, offset, flags));
      count -= n;
      offset += n;
    }
    if (count) NBD_TRY(rmw(offset, 0, count, nullptr, flags & ~kMayTrim));
    return ok();
  }

  // Trim is advisory: the unaligned head and tail are simply left alone.
  Status trim(uint64_t count, uint64_t offset, uint32_t flags) override {
    const uint64_t mb = l_.minblock;
    uint64_t start = round_up(offset, mb), end = round_down(offset + count, mb);
    for (; start < end;) {
      uint64_t n = std::min<uint64_t>(l_.maxlen, end - start);
      std::shared_lock l(sh_.lock);
      NBD_TRY(next().trim(n, start, flags));
      start += n;
    }
    return ok();
  }

  Status cache(uint64_t count, uint64_t offset, uint32_t flags) override {
    const uint64_t mb = l_.minblock;
    uint64_t start = round_down(offset, mb), end = round_up(offset + count, mb);
    while (start < end) {
      uint64_t n = std::min<uint64_t>(l_.maxdata, end - start);
      NBD_TRY(next().cache(n, start, flags));
      start += n;
    }
    return ok();
  }

  // Asks for whole blocks (at most maxlen); the caller's list drops what lies before its start,
  // and returning less than asked is fine as long as it makes progress.
  Status extents(uint64_t count, uint64_t offset, uint32_t flags, ExtentList& out) override {
    const uint64_t mb = l_.minblock;
    uint64_t start = round_down(offset, mb), end = round_up(offset + count, mb);
    ExtentList aligned(start, end);
    NBD_TRY(next().extents(std::min<uint64_t>(end - start, l_.maxlen), start, flags, aligned));
    if (mb == 1) {
      for (const Extent& e : aligned.extents()) NBD_TRY(out.add(e.offset, e.length, e.flags));
      return ok();
    }
    return add_aligned(aligned.extents(), mb, out);
  }

 private:
  std::span<std::byte> bounce() { return std::span(sh_.bounce).first(l_.minblock); }

  // Read-modify-write of the block at `block`: bytes [at, at+len) become `data`, or zeroes
  // when data is null.
  Status rmw(uint64_t block, uint64_t at, uint64_t len, const std::byte* data, uint32_t flags) {
    std::unique_lock l(sh_.lock);
    auto b = bounce();
    NBD_TRY(next().pread(b, block, 0));
    if (data)
      std::memcpy(b.data() + at, data, len);
    else
      std::memset(b.data() + at, 0, len);
    return next().pwrite(b, block, flags);
  }

  Limits l_;
  Shared& sh_;
};

Result<uint32_t> parse_limit(std::string_view key, std::string_view value) {
  NBD_TRY_ASSIGN(uint64_t v, parse_size(key, value));
  std::string kv = std::string(key) + "=" + std::string(value) + ": ";
  if (v == 0)
    return make_error(EINVAL, kv + "parameter '" + std::string(key) + "' must be non-zero if specified");
  if (v > UINT32_MAX) return make_error(EINVAL, kv + "parameter '" + std::string(key) + "' too large");
  return uint32_t(v);
}

class BlocksizeFilter final : public Filter {
 public:
  Result<bool> config(std::string_view key, std::string_view value) override {
    uint32_t* target = key == "minblock"  ? &cfg_.minblock
                       : key == "maxdata" ? &cfg_.maxdata
                       : key == "maxlen"  ? &cfg_.maxlen
                                          : nullptr;
    if (!target) return false;
    NBD_TRY_ASSIGN(*target, parse_limit(key, value));
    return true;
  }
  Status config_complete() override {
    uint32_t mb = cfg_.minblock;
    if (mb) {
      if (mb & (mb - 1))
        return make_error(EINVAL, "minblock=" + std::to_string(mb) + ": minblock must be a power of 2");
      if (mb > kMinBlockLimit)
        return make_error(EINVAL, "minblock=" + std::to_string(mb) + ": minblock must not exceed " +
                                      std::to_string(kMinBlockLimit));
      if (cfg_.maxdata % mb)
        return make_error(EINVAL, "maxdata=" + std::to_string(cfg_.maxdata) +
                                      ": maxdata must be a multiple of " + std::to_string(mb));
      if (cfg_.maxlen % mb)
        return make_error(EINVAL, "maxlen=" + std::to_string(cfg_.maxlen) +
                                      ": maxlen must be a multiple of " + std::to_string(mb));
    }
    return ok();
  }
  Result<std::unique_ptr<Connection>> open(const OpenParams& params, const NextOpen& next) override {
    NBD_TRY_ASSIGN(auto below, next(params));
    return std::unique_ptr<Connection>(
        std::make_unique<BlocksizeConnection>(std::move(below), cfg_, shared_));
  }

 private:
  Limits cfg_;
  Shared shared_;
};

constexpr ParamHelp kParams[] = {
    {"minblock", "minblock=SIZE  Minimum block size, power of 2 <= 64k (default: the plugin's, or 1)."},
    {"maxdata", "maxdata=SIZE  Maximum size for read/write (default 64M or the plugin's maximum)."},
    {"maxlen", "maxlen=SIZE  Maximum size for trim/zero/cache/extents (default 4G-minblock)."},
};

}  // namespace

extern const FilterInfo blocksize_filter_info;
const FilterInfo blocksize_filter_info{
    .name = "blocksize",
    .description = "nbdkit blocksize filter: split and align requests for the plugin",
    .params = kParams,
    .factory = [] { return std::unique_ptr<Filter>(std::make_unique<BlocksizeFilter>()); },
};

}  // namespace nbd::filters
