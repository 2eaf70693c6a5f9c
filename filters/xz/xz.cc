// SPDX-License-Identifier: BSD-3-Clause
// xz filter: serves the uncompressed content of an .xz file the plugin holds, read-only, like
// upstream's nbdkit-xz-filter. Random access goes through the streams' indexes to the one
// block holding each byte; decoded blocks are kept in a per-connection LRU cache.
#include <cinttypes>
#include <string>

#include "block_cache.h"
#include "nbd/filter.h"
#include "nbd/log.h"
#include "nbd/parse.h"
#include "runtime/decoded_view.h"
#include "xz_file.h"

namespace nbd::filters {
namespace {

using xz::BlockCache;
using xz::XzIndex;

constexpr uint64_t kDefaultMaxBlock = uint64_t{512} << 20;  // upstream's default
constexpr size_t kDefaultMaxDepth = 8;                      // upstream's default
// A file of one block larger than this is refused: every cache miss would decode it all, and
// recompressing with --block-size=16MiB is what makes it random-access.
constexpr uint64_t kSingleBlockLimit = uint64_t{16} << 20;

class XzConnection final : public DecodedViewConnection {
 public:
  XzConnection(std::unique_ptr<Connection> next, XzIndex index, size_t depth)
      : DecodedViewConnection(std::move(next)),
        index_(std::move(index)),
        read_at_([this](std::span<std::byte> buf, uint64_t off) { return this->next().pread(buf, off, 0); }),
        cache_(depth, [this](size_t b, std::span<std::byte> out) {
          return xz::decode_block(read_at_, index_.blocks()[b], out);
        }) {}

  Result<uint64_t> get_size() override { return index_.size(); }
  Result<bool> can_extents() override { return false; }  // all data, as upstream
  // (Cache requests are reads by the core that fill the block cache, never the plugin's cache
  // of compressed bytes at uncompressed offsets.)

  Status pread(std::span<std::byte> buf, uint64_t offset, uint32_t /*flags*/) override {
    while (!buf.empty()) {
      const size_t b = index_.find(offset);
      const xz::BlockInfo& info = index_.blocks()[b];
      const uint64_t in = offset - info.uoffset;
      const size_t n = size_t(std::min<uint64_t>(buf.size(), info.usize - in));
      if (Status s = cache_.read(b, info.usize, in, buf.first(n)); !s)
        return make_error(
            EIO, "xz: reading uncompressed offset " + std::to_string(offset) + ": " + s.error().message);
      buf = buf.subspan(n);
      offset += n;
    }
    return ok();
  }

 private:
  const XzIndex index_;
  const xz::ReadAt read_at_;
  BlockCache cache_;
};

class XzFilter final : public Filter {
 public:
  Result<bool> config(std::string_view key, std::string_view value) override {
    if (key == "xz-max-block") {
      NBD_TRY_ASSIGN(max_block_, parse_size(key, value));
      if (max_block_ == 0) return make_error(EINVAL, "xz-max-block=0: must be at least 1 byte");
      return true;
    }
    if (key == "xz-max-depth") {
      NBD_TRY_ASSIGN(uint32_t d, parse_uint32(key, value));
      if (d == 0) return make_error(EINVAL, "xz-max-depth=0: must be at least 1");
      max_depth_ = d;
      return true;
    }
    return false;
  }

  Result<std::unique_ptr<Connection>> open(const OpenParams& params, const NextOpen& next) override {
    OpenParams below_params = params;
    below_params.readonly = true;  // the filter never writes to the compressed file
    NBD_TRY_ASSIGN(auto below, next(below_params));
    NBD_TRY_ASSIGN(uint64_t file_size, below->get_size());
    auto index = XzIndex::read(
        [&below](std::span<std::byte> buf, uint64_t off) { return below->pread(buf, off, 0); }, file_size);
    if (!index) return make_error(index.error().errnum, "xz: " + index.error().message);
    const auto& blocks = index->blocks();
    if (blocks.size() == 1 && blocks[0].usize > kSingleBlockLimit)
      return make_error(EINVAL, "xz: the file is a single block of " + std::to_string(blocks[0].usize) +
                                    " bytes, so it cannot be read at random: recompress it with many blocks, "
                                    "e.g. xz --block-size=16MiB");
    if (index->largest_block() > max_block_)
      return make_error(
          EINVAL, "xz: the file has a block of " + std::to_string(index->largest_block()) +
                      " bytes, larger than xz-max-block=" + std::to_string(max_block_) +
                      ": recompress it with smaller blocks (xz --block-size=16MiB) or raise xz-max-block");
    log::debug("xz: size %" PRIu64 " bytes, %" PRIu64 " streams, %zu blocks, largest block %" PRIu64 " bytes",
               index->size(), index->streams(), blocks.size(), index->largest_block());
    return std::unique_ptr<Connection>(
        std::make_unique<XzConnection>(std::move(below), std::move(*index), max_depth_));
  }

 private:
  uint64_t max_block_ = kDefaultMaxBlock;
  size_t max_depth_ = kDefaultMaxDepth;
};

constexpr ParamHelp kParams[] = {
    {"xz-max-block", "xz-max-block=<SIZE>  Refuse files with a block larger than this (default 512M)."},
    {"xz-max-depth", "xz-max-depth=<N>  Decoded blocks kept in the cache per connection (default 8)."},
};

}  // namespace

extern const FilterInfo xz_filter_info;
const FilterInfo xz_filter_info{
    .name = "xz",
    .description = "nbdkit xz filter: serve the uncompressed content of an .xz file",
    .params = kParams,
    .factory = [] { return std::unique_ptr<Filter>(std::make_unique<XzFilter>()); },
};

}  // namespace nbd::filters
