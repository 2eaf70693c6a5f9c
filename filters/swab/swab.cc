// SPDX-License-Identifier: BSD-3-Clause
// swab filter: serves the layer below with the bytes of every 16-, 32- or 64-bit word reversed
// (swab-bits=), like upstream's nbdkit-swab-filter; for disks from byte-swapped controllers.
#include <algorithm>
#include <string>
#include <vector>

#include "nbd/filter.h"
#include "nbd/parse.h"

namespace nbd::filters {
namespace {

// Reverses each w-byte word of buf in place (w is 2, 4 or 8; buf.size() a multiple of w).
void swap_words(std::span<std::byte> buf, uint32_t w) {
  for (size_t i = 0; i + w <= buf.size(); i += w) std::reverse(buf.begin() + i, buf.begin() + i + w);
}

// Merges extents [in) that start at `from` so every boundary falls on a multiple of w: a word
// that straddles two extents gets only the flags both have (data wins over hole). Emits up to
// `until` (a multiple of w), which the extents must cover.
Status add_word_aligned(const std::vector<Extent>& in, uint64_t from, uint64_t until, uint32_t w,
                        ExtentList& out) {
  uint64_t pos = from;
  size_t i = 0;
  while (pos < until) {
    while (i < in.size() && in[i].end() <= pos) ++i;
    if (i == in.size()) break;
    const Extent& e = in[i];
    uint64_t whole = (std::min(e.end(), until) - pos) / w * w;
    if (whole > 0) {
      NBD_TRY(out.add(pos, whole, e.flags));
      pos += whole;
      continue;
    }
    uint64_t flags = e.flags, end = pos + w;
    for (size_t j = i + 1; j < in.size() && in[j].offset < end; ++j) flags &= in[j].flags;
    NBD_TRY(out.add(pos, w, flags));
    pos = end;
  }
  return ok();
}

class SwabConnection final : public FilterConnection {
 public:
  SwabConnection(std::unique_ptr<Connection> next, uint32_t word)
      : FilterConnection(std::move(next)), w_(word) {}

  // As upstream, the unaligned tail is cut off (the truncate filter can round up instead).
  Result<uint64_t> get_size() override {
    NBD_TRY_ASSIGN(uint64_t size, next().get_size());
    return size / w_ * w_;
  }
  // As upstream, also with swab-bits=8: a plugin without constraints gets w/512/4G, one with
  // constraints keeps them with the minimum raised to the word size.
  Result<BlockSize> block_size() override {
    NBD_TRY_ASSIGN(BlockSize b, next().block_size());
    if (b.minimum == 0) return BlockSize{.minimum = w_, .preferred = 512, .maximum = 0xffffffff};
    b.minimum = std::max(b.minimum, w_);
    b.preferred = std::max(b.preferred, b.minimum);
    return b;
  }

  Status pread(std::span<std::byte> buf, uint64_t offset, uint32_t flags) override {
    NBD_TRY(check_aligned(buf.size(), offset));
    NBD_TRY(next().pread(buf, offset, flags));
    if (w_ > 1) swap_words(buf, w_);
    return ok();
  }
  Status pwrite(std::span<const std::byte> buf, uint64_t offset, uint32_t flags) override {
    NBD_TRY(check_aligned(buf.size(), offset));
    if (w_ == 1) return next().pwrite(buf, offset, flags);
    // One buffer per thread, reused: parallel requests each swap into their own.
    thread_local std::vector<std::byte> swapped;
    if (swapped.size() < buf.size()) swapped.resize(buf.size());
    std::span<std::byte> s(swapped.data(), buf.size());
    std::copy(buf.begin(), buf.end(), s.begin());
    swap_words(s, w_);
    return next().pwrite(s, offset, flags);
  }
  Status trim(uint64_t count, uint64_t offset, uint32_t flags) override {
    NBD_TRY(check_aligned(count, offset));
    return next().trim(count, offset, flags);
  }
  Status zero(uint64_t count, uint64_t offset, uint32_t flags) override {
    NBD_TRY(check_aligned(count, offset));
    return next().zero(count, offset, flags);
  }
  Status cache(uint64_t count, uint64_t offset, uint32_t flags) override {
    NBD_TRY(check_aligned(count, offset));
    return next().cache(count, offset, flags);
  }
  // Extents from below may change type inside a word; a word is reported as one extent.
  Status extents(uint64_t count, uint64_t offset, uint32_t flags, ExtentList& out) override {
    NBD_TRY(check_aligned(count, offset));
    if (w_ == 1) return next().extents(count, offset, flags, out);
    const uint64_t end = offset + count;
    std::vector<Extent> in;
    uint64_t have = offset;
    // Ask until the first word boundary after the first extent is covered (or the request).
    while (have < end && (in.empty() || have < std::min(end, (in.front().end() + w_ - 1) / w_ * w_))) {
      ExtentList below(have, end);
      NBD_TRY(next().extents(end - have, have, flags, below));
      if (below.next_offset() <= have) return make_error(EIO, "swab: the plugin returned no extents");
      in.insert(in.end(), below.extents().begin(), below.extents().end());
      have = std::min(below.next_offset(), end);
    }
    return add_word_aligned(in, offset, have == end ? end : have / w_ * w_, w_, out);
  }

 private:
  Status check_aligned(uint64_t count, uint64_t offset) const {
    if (count % w_ != 0 || offset % w_ != 0)
      return make_error(EINVAL, "swab: requests to this filter must be aligned to " + std::to_string(w_) +
                                    " bytes (swab-bits=" + std::to_string(w_ * 8) + ")");
    return ok();
  }
  uint32_t w_;
};

class SwabFilter final : public Filter {
 public:
  Result<bool> config(std::string_view key, std::string_view value) override {
    if (key != "swab-bits") return false;
    auto bits = parse_uint32(key, value);
    if (!bits) return bits.error();
    if (*bits != 8 && *bits != 16 && *bits != 32 && *bits != 64)
      return make_error(EINVAL, "swab: swab-bits=" + std::string(value) + ": must be 8, 16, 32 or 64");
    word_ = *bits / 8;
    return true;
  }
  Result<std::unique_ptr<Connection>> open(const OpenParams& params, const NextOpen& next) override {
    NBD_TRY_ASSIGN(auto below, next(params));
    return std::unique_ptr<Connection>(std::make_unique<SwabConnection>(std::move(below), word_));
  }

 private:
  uint32_t word_ = 2;  // swab-bits=16, upstream's default
};

constexpr ParamHelp kParams[] = {
    {"swab-bits",
     "swab-bits=8|16|32|64  Size of the words whose bytes are swapped (default 16; 8 is a no-op)."},
};

}  // namespace

extern const FilterInfo swab_filter_info;
const FilterInfo swab_filter_info{
    .name = "swab",
    .description = "nbdkit swab filter: swap the byte order of 16, 32 or 64 bit words",
    .params = kParams,
    .factory = [] { return std::unique_ptr<Filter>(std::make_unique<SwabFilter>()); },
};

}  // namespace nbd::filters
