// SPDX-License-Identifier: BSD-3-Clause
// bzip2 filter: serves the decompressed contents of a bzip2-compressed plugin, read-only, as
// upstream's nbdkit-bzip2-filter (nbdkit 1.36 on). bzip2 cannot be read at random, so the first
// client's open decompresses the whole file (every stream of a concatenated file, as bzip2 -d)
// into an unlinked temporary file and every connection reads that
// (filters/common/decompressed_file.h).
#include <bzlib.h>

#include "decompressed_file.h"

namespace nbd::filters {
namespace {

constexpr std::byte kBzip2Magic[] = {std::byte{'B'}, std::byte{'Z'}, std::byte{'h'}};

std::string bz_error(int r) {
  switch (r) {
    case BZ_DATA_ERROR: return "corrupt data (a block's checksum or structure is wrong)";
    case BZ_DATA_ERROR_MAGIC: return "corrupt data (no bzip2 stream header)";
    case BZ_MEM_ERROR: return "out of memory";
    default: return "libbz2 error " + std::to_string(r);
  }
}

class Bzip2Decoder final : public StreamDecoder {
 public:
  ~Bzip2Decoder() override { end(); }
  Status start() {
    int r = BZ2_bzDecompressInit(&s_, 0, 0);
    if (r != BZ_OK) return make_error(ENOMEM, "bzip2: cannot start libbz2: " + bz_error(r));
    started_ = true;
    return ok();
  }
  Result<Step> step(std::span<const std::byte> in, std::span<std::byte> out) override {
    s_.next_in = reinterpret_cast<char*>(const_cast<std::byte*>(in.data()));
    s_.avail_in = unsigned(in.size());
    s_.next_out = reinterpret_cast<char*>(out.data());
    s_.avail_out = unsigned(out.size());
    int r = BZ2_bzDecompress(&s_);
    if (r != BZ_OK && r != BZ_STREAM_END) return make_error(EINVAL, bz_error(r));
    return Step{in.size() - s_.avail_in, out.size() - s_.avail_out, r == BZ_STREAM_END};
  }
  // libbz2 has no reset: a new stream needs a new state.
  Status restart() override {
    end();
    return start();
  }

 private:
  void end() {
    if (started_) BZ2_bzDecompressEnd(&s_);
    started_ = false;
    s_ = bz_stream{};
  }
  bz_stream s_{};
  bool started_ = false;
};

Result<std::unique_ptr<StreamDecoder>> make_bzip2_decoder() {
  auto d = std::make_unique<Bzip2Decoder>();
  NBD_TRY(d->start());
  return std::unique_ptr<StreamDecoder>(std::move(d));
}

}  // namespace

extern const FilterInfo bzip2_filter_info;
const FilterInfo bzip2_filter_info{
    .name = "bzip2",
    .description = "nbdkit bzip2 filter: serve the decompressed contents of a bzip2 file",
    .params = {},
    .factory =
        [] {
          return std::unique_ptr<Filter>(
              std::make_unique<DecompressingFilter>("bzip2", kBzip2Magic, make_bzip2_decoder));
        },
};

}  // namespace nbd::filters
