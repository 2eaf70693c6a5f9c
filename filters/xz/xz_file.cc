// SPDX-License-Identifier: BSD-3-Clause
// The .xz container for random access (see xz_file.h): index parsing and single-block decoding
// on liblzma.
#include "xz_file.h"

#include <lzma.h>

#include <algorithm>
#include <memory>
#include <string>

namespace nbd::filters::xz {
namespace {

// Stream header and footer are 12 bytes each (LZMA_STREAM_HEADER_SIZE).
constexpr uint64_t kHeader = LZMA_STREAM_HEADER_SIZE;
// A larger index would describe tens of millions of blocks: refused rather than read into memory.
constexpr uint64_t kMaxIndexSize = uint64_t{256} << 20;
constexpr uint8_t kMagic[6] = {0xFD, '7', 'z', 'X', 'Z', 0x00};

const char* what_failed(lzma_ret r) {
  switch (r) {
    case LZMA_DATA_ERROR: return "corrupt data (or its check does not match)";
    case LZMA_BUF_ERROR: return "truncated data";
    case LZMA_MEM_ERROR: return "out of memory";
    case LZMA_MEMLIMIT_ERROR: return "needs too much memory";
    case LZMA_FORMAT_ERROR: return "bad magic bytes";
    case LZMA_OPTIONS_ERROR: return "unsupported options";
    case LZMA_UNSUPPORTED_CHECK: return "unsupported check type";
    case LZMA_PROG_ERROR: return "invalid arguments";
    default: return "unexpected liblzma result";
  }
}

Error bad(int errnum, uint64_t where, const std::string& what) {
  return make_error(errnum, "at file offset " + std::to_string(where) + ": " + what);
}

struct IndexDeleter {
  void operator()(lzma_index* i) const { lzma_index_end(i, nullptr); }
};
using IndexPtr = std::unique_ptr<lzma_index, IndexDeleter>;

Status read_bytes(const ReadAt& read_at, std::span<std::byte> buf, uint64_t offset) {
  Status s = read_at(buf, offset);
  if (!s)
    return make_error(s.error().errnum, "reading " + std::to_string(buf.size()) + " bytes at file offset " +
                                            std::to_string(offset) + ": " + s.error().message);
  return ok();
}

// Moves pos back over the stream padding (whole zero 4-byte words) that ends at pos and
// returns how many bytes it was.
Result<uint64_t> skip_padding(const ReadAt& read_at, uint64_t& pos) {
  std::byte chunk[4096];
  uint64_t padding = 0;
  while (pos > 0) {
    size_t n = size_t(std::min<uint64_t>(pos, sizeof chunk));
    NBD_TRY(read_bytes(read_at, {chunk, n}, pos - n));
    size_t zeros = 0;
    while (zeros + 4 <= n && chunk[n - zeros - 1] == std::byte{0} && chunk[n - zeros - 2] == std::byte{0} &&
           chunk[n - zeros - 3] == std::byte{0} && chunk[n - zeros - 4] == std::byte{0})
      zeros += 4;
    padding += zeros;
    pos -= zeros;
    if (zeros < n) break;
  }
  return padding;
}

// Reads the stream that ends at pos (its footer's last byte is pos - 1): footer, index and
// header, checked against each other. Moves pos to the stream's first byte.
Result<IndexPtr> read_stream(const ReadAt& read_at, uint64_t& pos) {
  if (pos < 2 * kHeader)
    return bad(EINVAL, 0, "truncated: " + std::to_string(pos) + " bytes cannot hold a stream");
  uint8_t raw[kHeader];
  const uint64_t footer_at = pos - kHeader;
  NBD_TRY(read_bytes(read_at, std::as_writable_bytes(std::span(raw)), footer_at));
  lzma_stream_flags footer{};
  if (lzma_ret r = lzma_stream_footer_decode(&footer, raw); r != LZMA_OK)
    return bad(EINVAL, footer_at,
               r == LZMA_FORMAT_ERROR ? "no stream footer (the file is truncated or is not an xz file)"
                                      : std::string("bad stream footer: ") + what_failed(r));
  if (!lzma_check_is_supported(footer.check))
    return bad(EINVAL, footer_at, "unsupported check type " + std::to_string(int(footer.check)));
  const uint64_t index_size = footer.backward_size;
  if (index_size > footer_at - kHeader)
    return bad(EINVAL, footer_at,
               "the footer's index size " + std::to_string(index_size) + " does not fit in the file");
  if (index_size > kMaxIndexSize)
    return bad(EINVAL, footer_at, "index of " + std::to_string(index_size) + " bytes is too large");
  const uint64_t index_at = footer_at - index_size;
  std::vector<uint8_t> ibuf(static_cast<size_t>(index_size));
  NBD_TRY(read_bytes(read_at, std::as_writable_bytes(std::span(ibuf)), index_at));
  lzma_index* raw_index = nullptr;
  // Each record takes at least 2 bytes of the index, so no honest index needs more memory than
  // this many records do; a corrupt record count would otherwise make liblzma allocate without
  // bound before it reads the records (found by fuzz/fuzz_decoders).
  uint64_t memlimit = lzma_index_memusage(1, index_size / 2 + 1);
  size_t in_pos = 0;
  lzma_ret r = lzma_index_buffer_decode(&raw_index, &memlimit, nullptr, ibuf.data(), &in_pos, ibuf.size());
  IndexPtr index(raw_index);
  if (r != LZMA_OK) return bad(EINVAL, index_at, std::string("bad index: ") + what_failed(r));
  if (in_pos != ibuf.size()) return bad(EINVAL, index_at, "bad index: shorter than the footer says");
  const uint64_t stream_size = lzma_index_stream_size(index.get());
  if (stream_size > pos)
    return bad(EINVAL, index_at,
               "the index records " + std::to_string(stream_size) + " bytes of stream, more than the " +
                   std::to_string(pos) + " before its footer ends");
  const uint64_t start = pos - stream_size;
  NBD_TRY(read_bytes(read_at, std::as_writable_bytes(std::span(raw)), start));
  lzma_stream_flags header{};
  if (r = lzma_stream_header_decode(&header, raw); r != LZMA_OK)
    return bad(EINVAL, start,
               r == LZMA_FORMAT_ERROR ? "no stream header where the index says the stream starts"
                                      : std::string("bad stream header: ") + what_failed(r));
  if (lzma_stream_flags_compare(&header, &footer) != LZMA_OK)
    return bad(EINVAL, start, "the stream header and footer disagree");
  if (lzma_index_stream_flags(index.get(), &footer) != LZMA_OK)
    return bad(EINVAL, footer_at, "stream flags rejected by liblzma");
  pos = start;
  return index;
}

}  // namespace

Result<XzIndex> XzIndex::read(const ReadAt& read_at, uint64_t file_size) {
  if (file_size < sizeof kMagic)
    return bad(EINVAL, 0, "not an xz file (only " + std::to_string(file_size) + " bytes)");
  uint8_t magic[sizeof kMagic];
  NBD_TRY(read_bytes(read_at, std::as_writable_bytes(std::span(magic)), 0));
  if (!std::equal(std::begin(magic), std::end(magic), std::begin(kMagic)))
    return bad(EINVAL, 0, "not an xz file (no xz magic bytes)");
  if (file_size % 4 != 0)
    return bad(
        EINVAL, file_size,
        "size " + std::to_string(file_size) + " is not a multiple of 4: truncated or trailing garbage");

  // From the end backwards: [padding] stream [padding] stream ... The last stream read is the
  // first in the file, so each one read goes in front of those read before.
  IndexPtr all;
  uint64_t pos = file_size, streams = 0;
  while (pos > 0) {
    NBD_TRY_ASSIGN(uint64_t padding, skip_padding(read_at, pos));
    if (pos == 0) return bad(EINVAL, 0, "stream padding where the first stream header should be");
    NBD_TRY_ASSIGN(IndexPtr index, read_stream(read_at, pos));
    if (lzma_index_stream_padding(index.get(), padding) != LZMA_OK)
      return bad(EINVAL, pos, "bad stream padding of " + std::to_string(padding) + " bytes");
    if (all) {
      if (lzma_ret r = lzma_index_cat(index.get(), all.get(), nullptr); r != LZMA_OK)
        return bad(EINVAL, pos, std::string("streams cannot be combined: ") + what_failed(r));
      (void)all.release();  // now part of index
    }
    all = std::move(index);
    ++streams;
  }

  XzIndex x;
  x.streams_ = streams;
  x.size_ = lzma_index_uncompressed_size(all.get());
  lzma_index_iter it;
  lzma_index_iter_init(&it, all.get());
  while (!lzma_index_iter_next(&it, LZMA_INDEX_ITER_BLOCK)) {
    if (it.block.uncompressed_size == 0) continue;
    BlockInfo b{.uoffset = it.block.uncompressed_file_offset,
                .usize = it.block.uncompressed_size,
                .coffset = it.block.compressed_file_offset,
                .total_size = it.block.total_size,
                .unpadded_size = it.block.unpadded_size,
                .check = uint32_t(it.stream.flags->check)};
    if (b.coffset + b.total_size > file_size)
      return bad(EINVAL, b.coffset, "block runs past the end of the file");
    x.largest_ = std::max(x.largest_, b.usize);
    x.blocks_.push_back(b);
  }
  return x;
}

size_t XzIndex::find(uint64_t offset) const {
  auto it = std::upper_bound(blocks_.begin(), blocks_.end(), offset,
                             [](uint64_t off, const BlockInfo& b) { return off < b.uoffset; });
  return size_t(it - blocks_.begin()) - 1;
}

namespace {

// One decoder and input buffer per thread, reused from block to block: liblzma keeps the
// dictionary allocated when the next block needs one of the same size.
struct ThreadDecoder {
  lzma_stream strm = LZMA_STREAM_INIT;
  std::vector<uint8_t> in;
  ~ThreadDecoder() { lzma_end(&strm); }
};

struct FiltersFree {
  lzma_filter* f;
  ~FiltersFree() { lzma_filters_free(f, nullptr); }
};

}  // namespace

Status decode_block(const ReadAt& read_at, const BlockInfo& b, std::span<std::byte> out) {
  if (out.size() != b.usize) return make_error(EINVAL, "decode_block: output buffer is not the block's size");
  if (b.total_size < 8 || b.total_size > SIZE_MAX) return bad(EIO, b.coffset, "bad block size in the index");
  thread_local ThreadDecoder d;
  d.in.resize(size_t(b.total_size));
  NBD_TRY(read_bytes(read_at, std::as_writable_bytes(std::span(d.in)), b.coffset));
  if (d.in[0] == 0) return bad(EIO, b.coffset, "an index where the index says a block starts");
  lzma_filter filters[LZMA_FILTERS_MAX + 1];
  filters[0].id = LZMA_VLI_UNKNOWN;
  FiltersFree free_filters{filters};
  lzma_block block{};
  block.version = 1;
  block.check = lzma_check(b.check);
  block.header_size = lzma_block_header_size_decode(d.in[0]);
  block.filters = filters;
  if (block.header_size > b.total_size) return bad(EIO, b.coffset, "block header larger than the block");
  if (lzma_ret r = lzma_block_header_decode(&block, nullptr, d.in.data()); r != LZMA_OK)
    return bad(EIO, b.coffset, std::string("bad block header: ") + what_failed(r));
  if (lzma_block_compressed_size(&block, b.unpadded_size) != LZMA_OK)
    return bad(EIO, b.coffset, "the block header's compressed size disagrees with the index");
  if (block.uncompressed_size != LZMA_VLI_UNKNOWN && block.uncompressed_size != b.usize)
    return bad(EIO, b.coffset, "the block header's uncompressed size disagrees with the index");
  block.uncompressed_size = b.usize;
  const uint64_t mem = lzma_raw_decoder_memusage(filters);
  if (mem == UINT64_MAX || mem > kMaxDecoderMemory)
    return bad(EIO, b.coffset, "the block's filters would need " + std::to_string(mem) + " bytes of memory");
  if (lzma_ret r = lzma_block_decoder(&d.strm, &block); r != LZMA_OK)
    return bad(EIO, b.coffset, std::string("cannot start decoding the block: ") + what_failed(r));
  d.strm.next_in = d.in.data() + block.header_size;
  d.strm.avail_in = d.in.size() - block.header_size;
  d.strm.next_out = reinterpret_cast<uint8_t*>(out.data());
  d.strm.avail_out = out.size();
  lzma_ret r;
  do r = lzma_code(&d.strm, LZMA_FINISH);
  while (r == LZMA_OK);
  if (r != LZMA_STREAM_END) return bad(EIO, b.coffset, std::string("decoding the block: ") + what_failed(r));
  if (d.strm.avail_out != 0 || d.strm.avail_in != 0)
    return bad(EIO, b.coffset, "the block's sizes disagree with the index");
  return ok();
}

}  // namespace nbd::filters::xz
