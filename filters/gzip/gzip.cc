// SPDX-License-Identifier: BSD-3-Clause
// gzip filter: serves the decompressed contents of a gzip-compressed plugin, read-only, as
// upstream's nbdkit-gzip-filter. gzip cannot be read at random, so the first client's open
// inflates the whole file (every member) into an unlinked temporary file and every connection
// reads that (filters/common/decompressed_file.h).
#include <zlib.h>

#include "decompressed_file.h"

namespace nbd::filters {
namespace {

constexpr std::byte kGzipMagic[] = {std::byte{0x1f}, std::byte{0x8b}};

class GzipDecoder final : public StreamDecoder {
 public:
  ~GzipDecoder() override {
    if (started_) inflateEnd(&z_);
  }
  Status start() {
    if (inflateInit2(&z_, 16 + MAX_WBITS) != Z_OK) return make_error(ENOMEM, "gzip: cannot start zlib");
    started_ = true;
    return ok();
  }
  Result<Step> step(std::span<const std::byte> in, std::span<std::byte> out) override {
    z_.next_in = reinterpret_cast<Bytef*>(const_cast<std::byte*>(in.data()));
    z_.avail_in = uInt(in.size());
    z_.next_out = reinterpret_cast<Bytef*>(out.data());
    z_.avail_out = uInt(out.size());
    int r = inflate(&z_, Z_NO_FLUSH);
    if (r != Z_OK && r != Z_STREAM_END && r != Z_BUF_ERROR)
      return make_error(EINVAL, r == Z_DATA_ERROR
                                    ? std::string("corrupt data: ") + (z_.msg ? z_.msg : "bad gzip stream")
                                    : "zlib error " + std::to_string(r));
    return Step{in.size() - z_.avail_in, out.size() - z_.avail_out, r == Z_STREAM_END};
  }
  Status restart() override {
    if (inflateReset(&z_) != Z_OK) return make_error(EIO, "zlib reset failed");
    return ok();
  }

 private:
  z_stream z_{};
  bool started_ = false;
};

Result<std::unique_ptr<StreamDecoder>> make_gzip_decoder() {
  auto d = std::make_unique<GzipDecoder>();
  NBD_TRY(d->start());
  return std::unique_ptr<StreamDecoder>(std::move(d));
}

}  // namespace

extern const FilterInfo gzip_filter_info;
const FilterInfo gzip_filter_info{
    .name = "gzip",
    .description = "nbdkit gzip filter: serve the decompressed contents of a gzip file",
    .params = {},
    .factory =
        [] {
          return std::unique_ptr<Filter>(
              std::make_unique<DecompressingFilter>("gzip", kGzipMagic, make_gzip_decoder));
        },
};

}  // namespace nbd::filters
