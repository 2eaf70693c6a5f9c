// SPDX-License-Identifier: BSD-3-Clause
// gzip filter: serves the decompressed contents of a gzip-compressed plugin, read-only, as
// upstream's nbdkit-gzip-filter. gzip cannot be read at random, so the first client's open
// inflates the whole file (every member of a multi-member file) into an unlinked temporary file
// in $TMPDIR (else /var/tmp), and every connection reads that. Runs of zeroes are left as holes
// in it, so block status reports them. A corrupt, truncated or non-gzip file refuses the
// connection with the reason and the compressed offset.
#include <unistd.h>
#include <zlib.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/fd.h"
#include "common/zero.h"
#include "disk/image.h"
#include "nbd/filter.h"
#include "temp_file.h"

namespace nbd::filters {
namespace {

constexpr size_t kInChunk = 1 << 20;
constexpr size_t kOutChunk = 1 << 20;
constexpr size_t kHoleGrain = 64 * 1024;  // zero runs this long (aligned) are not written

struct Decompressed {
  Fd fd;
  uint64_t size = 0;
};

Error bad(uint64_t at, const std::string& why) {
  return make_error(EINVAL, "gzip: " + why + " (at compressed offset " + std::to_string(at) + ")");
}

// Writes out[0, n) at offset of fd, skipping aligned kHoleGrain pieces that are all zero.
Status write_sparse(int fd, std::span<const std::byte> out, uint64_t offset) {
  for (size_t pos = 0; pos < out.size();) {
    size_t n = std::min(kHoleGrain - size_t((offset + pos) % kHoleGrain), out.size() - pos);
    auto piece = out.subspan(pos, n);
    if (!is_zero(piece)) NBD_TRY(vdisk::write_fully(fd, piece, offset + pos));
    pos += n;
  }
  return ok();
}

Result<Decompressed> inflate_all(Connection& below) {
  NBD_TRY_ASSIGN(uint64_t csize, below.get_size());
  if (csize < 18) return bad(0, "not a gzip file (too short)");
  std::byte magic[2];
  NBD_TRY(below.pread(magic, 0, 0));
  if (magic[0] != std::byte{0x1f} || magic[1] != std::byte{0x8b})
    return bad(0, "not a gzip file (no gzip magic)");
  NBD_TRY_ASSIGN(Fd fd, unlinked_temp_file("gzip"));
  z_stream z{};
  if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) return make_error(ENOMEM, "gzip: cannot start zlib");
  std::unique_ptr<z_stream, void (*)(z_stream*)> guard(&z, [](z_stream* p) { inflateEnd(p); });
  std::vector<std::byte> in(kInChunk), out(kOutChunk);
  uint64_t cpos = 0, upos = 0;
  bool member_done = false;
  while (cpos < csize || z.avail_in > 0) {
    if (z.avail_in == 0) {
      size_t n = size_t(std::min<uint64_t>(kInChunk, csize - cpos));
      NBD_TRY(below.pread(std::span(in).first(n), cpos, 0));
      z.next_in = reinterpret_cast<Bytef*>(in.data());
      z.avail_in = uInt(n);
      cpos += n;
    }
    if (member_done) {  // another member follows: gzip -d reads them all, as one stream
      if (inflateReset(&z) != Z_OK) return make_error(EIO, "gzip: zlib reset failed");
      member_done = false;
    }
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = uInt(out.size());
    int r = inflate(&z, Z_NO_FLUSH);
    uint64_t at = cpos - z.avail_in;
    if (r != Z_OK && r != Z_STREAM_END && r != Z_BUF_ERROR)
      return bad(at, r == Z_DATA_ERROR ? std::string("corrupt data: ") + (z.msg ? z.msg : "bad gzip stream")
                                       : std::string("zlib error ") + std::to_string(r));
    size_t produced = out.size() - z.avail_out;
    NBD_TRY(write_sparse(fd.get(), std::span(out).first(produced), upos));
    upos += produced;
    if (r == Z_STREAM_END)
      member_done = true;
    else if (r == Z_BUF_ERROR && z.avail_in == 0 && cpos == csize)
      break;  // no more input in the middle of a member: truncated
  }
  if (!member_done) return bad(csize, "the file ends in the middle of the compressed data (truncated?)");
  if (::ftruncate(fd.get(), off_t(upos)) != 0) return errno_error("gzip: temporary file");
  return Decompressed{std::move(fd), upos};
}

class GzipConnection final : public FilterConnection {
 public:
  GzipConnection(std::unique_ptr<Connection> next, std::shared_ptr<const Decompressed> d)
      : FilterConnection(std::move(next)), d_(std::move(d)) {}

  Result<uint64_t> get_size() override { return d_->size; }
  Result<bool> can_write() override { return false; }
  Result<bool> can_flush() override { return false; }
  Result<bool> can_trim() override { return false; }
  Result<ZeroMode> can_zero() override { return ZeroMode::None; }
  Result<bool> can_fast_zero() override { return false; }
  Result<FuaMode> can_fua() override { return FuaMode::None; }
  Result<bool> can_extents() override { return true; }
  Result<bool> can_multi_conn() override { return true; }  // the contents never change
  Result<CacheMode> can_cache() override { return CacheMode::Emulate; }
  Result<BlockSize> block_size() override { return BlockSize{}; }  // the compressed file's do not apply

  Status pread(std::span<std::byte> buf, uint64_t offset, uint32_t) override {
    return vdisk::read_fully(d_->fd.get(), buf, offset);
  }
  Status extents(uint64_t count, uint64_t offset, uint32_t, ExtentList& e) override {
    return vdisk::file_extents(d_->fd.get(), count, offset, 0, e);
  }

 private:
  std::shared_ptr<const Decompressed> d_;
};

class GzipFilter final : public Filter {
 public:
  Result<std::unique_ptr<Connection>> open(const OpenParams& params, const NextOpen& next) override {
    OpenParams ro = params;
    ro.readonly = true;  // the file is only ever read
    NBD_TRY_ASSIGN(auto below, next(ro));
    std::shared_ptr<const Decompressed> d;
    {
      std::lock_guard l(mu_);
      if (!d_) {
        NBD_TRY_ASSIGN(Decompressed x, inflate_all(*below));
        d_ = std::make_shared<const Decompressed>(std::move(x));
      }
      d = d_;
    }
    return std::unique_ptr<Connection>(std::make_unique<GzipConnection>(std::move(below), std::move(d)));
  }

 private:
  std::mutex mu_;  // held while the first client's open inflates the file: later ones wait for it
  std::shared_ptr<const Decompressed> d_;
};

}  // namespace

extern const FilterInfo gzip_filter_info;
const FilterInfo gzip_filter_info{
    .name = "gzip",
    .description = "nbdkit gzip filter: serve the decompressed contents of a gzip file",
    .params = {},
    .factory = [] { return std::unique_ptr<Filter>(std::make_unique<GzipFilter>()); },
};

}  // namespace nbd::filters
