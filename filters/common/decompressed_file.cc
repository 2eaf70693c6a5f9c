// SPDX-License-Identifier: BSD-3-Clause
// Whole-file decompression into an unlinked temporary file, and the read-only connection over it.
#include "decompressed_file.h"

#include <unistd.h>

#include <vector>

#include "common/zero.h"
#include "disk/image.h"
#include "runtime/decoded_view.h"
#include "temp_file.h"

namespace nbd::filters {
namespace {

constexpr size_t kInChunk = 1 << 20;
constexpr size_t kOutChunk = 1 << 20;
constexpr size_t kHoleGrain = 64 * 1024;  // zero runs this long (aligned) are not written

Error bad(std::string_view who, uint64_t at, const std::string& why) {
  return make_error(EINVAL,
                    std::string(who) + ": " + why + " (at compressed offset " + std::to_string(at) + ")");
}

// Writes out at offset of fd, skipping aligned kHoleGrain pieces that are all zero.
Status write_sparse(int fd, std::span<const std::byte> out, uint64_t offset) {
  for (size_t pos = 0; pos < out.size();) {
    size_t n = std::min(kHoleGrain - size_t((offset + pos) % kHoleGrain), out.size() - pos);
    auto piece = out.subspan(pos, n);
    if (!is_zero(piece)) NBD_TRY(vdisk::write_fully(fd, piece, offset + pos));
    pos += n;
  }
  return ok();
}

class DecompressedConnection final : public DecodedViewConnection {
 public:
  DecompressedConnection(std::unique_ptr<Connection> next, std::shared_ptr<const DecompressedFile> f)
      : DecodedViewConnection(std::move(next)), f_(std::move(f)) {}

  Result<uint64_t> get_size() override { return f_->size; }
  Result<bool> can_flush() override { return false; }
  Result<bool> can_extents() override { return true; }

  Status pread(std::span<std::byte> buf, uint64_t offset, uint32_t) override {
    return vdisk::read_fully(f_->fd.get(), buf, offset);
  }
  Status extents(uint64_t count, uint64_t offset, uint32_t, ExtentList& e) override {
    return vdisk::file_extents(f_->fd.get(), count, offset, 0, e);
  }

 private:
  std::shared_ptr<const DecompressedFile> f_;
};

}  // namespace

Result<DecompressedFile> decompress_to_temp(Connection& below, std::string_view who,
                                            std::span<const std::byte> magic, StreamDecoder& decoder) {
  NBD_TRY_ASSIGN(uint64_t csize, below.get_size());
  std::string name(who);
  if (csize < magic.size()) return bad(who, 0, "not a " + name + " file (too short)");
  std::vector<std::byte> head(magic.size());
  NBD_TRY(below.pread(head, 0, 0));
  if (!std::equal(head.begin(), head.end(), magic.begin()))
    return bad(who, 0, "not a " + name + " file (no " + name + " magic)");
  NBD_TRY_ASSIGN(Fd fd, unlinked_temp_file(who));
  std::vector<std::byte> in(kInChunk), out(kOutChunk);
  uint64_t cpos = 0, upos = 0;
  size_t in_pos = 0, in_len = 0;
  bool stream_done = false;
  for (;;) {
    if (in_pos == in_len && cpos < csize) {
      in_len = size_t(std::min<uint64_t>(kInChunk, csize - cpos));
      NBD_TRY(below.pread(std::span(in).first(in_len), cpos, 0));
      cpos += in_len;
      in_pos = 0;
    }
    bool input_left = in_pos < in_len || cpos < csize;
    if (stream_done) {  // another stream follows: gzip -d and bzip2 -d read them all, as one
      if (!input_left) break;
      NBD_TRY(decoder.restart());
      stream_done = false;
    }
    uint64_t at = cpos - (in_len - in_pos);
    // Called even with no input left: a decoder may still hold output for a full buffer.
    auto r = decoder.step(std::span(in).subspan(in_pos, in_len - in_pos), out);
    if (!r) return bad(who, at, r.error().message);
    in_pos += r->consumed;
    NBD_TRY(write_sparse(fd.get(), std::span(out).first(r->produced), upos));
    upos += r->produced;
    stream_done = r->stream_end;
    if (!stream_done && r->consumed == 0 && r->produced == 0) {
      if (!input_left) break;  // it wants more than the file has
      return bad(who, at, "the decoder made no progress");
    }
  }
  if (!stream_done) return bad(who, csize, "the file ends in the middle of the compressed data (truncated?)");
  if (::ftruncate(fd.get(), off_t(upos)) != 0) return errno_error(name + ": temporary file");
  return DecompressedFile{std::move(fd), upos};
}

Result<std::unique_ptr<Connection>> DecompressingFilter::open(const OpenParams& params,
                                                              const NextOpen& next) {
  OpenParams ro = params;
  ro.readonly = true;  // the file is only ever read
  NBD_TRY_ASSIGN(auto below, next(ro));
  std::shared_ptr<const DecompressedFile> f;
  {
    std::lock_guard l(mu_);
    if (!file_) {
      NBD_TRY_ASSIGN(auto decoder, make_());
      NBD_TRY_ASSIGN(DecompressedFile x, decompress_to_temp(*below, who_, magic_, *decoder));
      file_ = std::make_shared<const DecompressedFile>(std::move(x));
    }
    f = file_;
  }
  return std::unique_ptr<Connection>(
      std::make_unique<DecompressedConnection>(std::move(below), std::move(f)));
}

}  // namespace nbd::filters
