// SPDX-License-Identifier: BSD-3-Clause
// qcow2 reading for the qcow2dec filter (see qcow2_image.h). The layout is qemu's
// docs/interop/qcow2.txt: a big-endian header, an L1 table of L2 table offsets, L2 tables of
// cluster descriptors.
#include "qcow2_image.h"

#include <zlib.h>
#include <zstd.h>

#include <cstring>
#include <string>

namespace nbd::filters::qcow2 {
namespace {

constexpr uint32_t kMagic = 0x514649fb;               // "QFI\xfb"
constexpr uint64_t kOffsetMask = 0x00fffffffffffe00;  // bits 9-55: L1 and standard L2 offsets
constexpr uint64_t kCompressedFlag = uint64_t{1} << 62;
constexpr uint64_t kZeroFlag = 1;
constexpr uint64_t kMaxL1Bytes = 32 << 20;  // as qemu's QCOW_MAX_L1_SIZE
constexpr size_t kL2CacheTables = 16;
// Incompatible feature bits (version 3).
constexpr uint64_t kDirty = 1, kCorrupt = 2, kExternalData = 4, kCompressionType = 8, kExtendedL2 = 16;

uint64_t be64(const std::byte* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | uint64_t(p[i]);
  return v;
}
uint32_t be32(const std::byte* p) { return uint32_t(be64(p) >> 32); }

Error bad(const std::string& what) {
  return make_error(EINVAL, "not a qcow2 image this filter reads: " + what);
}

}  // namespace

Result<std::unique_ptr<Image>> Image::open(ReadAt read_at, uint64_t file_size) {
  std::unique_ptr<Image> img(new Image(std::move(read_at), file_size));
  std::byte hdr[112] = {};
  if (file_size < 72) return bad("the file is too small for a qcow2 header");
  const size_t n = size_t(std::min<uint64_t>(sizeof hdr, file_size));
  NBD_TRY(img->read_at_(std::span(hdr, n), 0));
  if (be32(hdr) != kMagic) return bad("no qcow2 magic (QFI\\xfb) at the start");
  Header& h = img->h_;
  h.version = be32(hdr + 4);
  if (h.version != 2 && h.version != 3)
    return bad("version " + std::to_string(h.version) + " (2 and 3 are known)");
  if (be64(hdr + 8) != 0)
    return make_error(ENOTSUP, "the qcow2 image has a backing file, which qcow2dec does not read");
  h.cluster_bits = be32(hdr + 20);
  if (h.cluster_bits < 9 || h.cluster_bits > 21)
    return bad("cluster_bits " + std::to_string(h.cluster_bits) + " (9 to 21 are valid)");
  h.size = be64(hdr + 24);
  if (h.size > (uint64_t{1} << 62)) return bad("a virtual size of " + std::to_string(h.size) + " bytes");
  if (be32(hdr + 32) != 0) return make_error(ENOTSUP, "the qcow2 image is encrypted (crypt_method set)");
  h.l1_size = be32(hdr + 36);
  h.l1_offset = be64(hdr + 40);
  if (h.version == 3) {
    if (n < 104) return bad("the file is too small for a version 3 header");
    const uint64_t incompatible = be64(hdr + 72);
    if (incompatible & kCorrupt)
      return make_error(EINVAL, "the qcow2 image is marked corrupt (qemu-img check -r all)");
    if (incompatible & kExternalData)
      return make_error(ENOTSUP,
                        "the qcow2 image keeps its data in an external file, which qcow2dec does not read");
    if (incompatible & kExtendedL2)
      return make_error(
          ENOTSUP, "the qcow2 image has extended L2 entries (subclusters), which qcow2dec does not read");
    if (incompatible & ~(kDirty | kCompressionType))
      return make_error(ENOTSUP, "the qcow2 image needs unknown features (incompatible_features " +
                                     std::to_string(incompatible) + ")");
    h.dirty = incompatible & kDirty;
    const uint32_t header_length = be32(hdr + 100);
    if (incompatible & kCompressionType) {
      if (header_length < 105 || n < 105) return bad("the compression type is set but not in the header");
      h.compression = uint8_t(hdr[104]);
      if (h.compression > 1)
        return bad("compression type " + std::to_string(h.compression) + " (0 zlib, 1 zstd)");
    }
  }
  // Each L1 entry covers cluster_size / 8 clusters.
  const uint32_t l2_bits = h.cluster_bits - 3;
  const uint64_t per_l1 = uint64_t{1} << (h.cluster_bits + l2_bits);
  const uint64_t needed = (h.size + per_l1 - 1) / per_l1;
  if (h.l1_size < needed)
    return bad("an L1 table of " + std::to_string(h.l1_size) + " entries for a disk needing " +
               std::to_string(needed));
  if (uint64_t(h.l1_size) * 8 > kMaxL1Bytes) return bad("an L1 table over 32 MiB");
  const uint64_t l1_bytes = needed * 8;
  if (h.l1_offset % 512 || h.l1_offset > file_size || l1_bytes > file_size - h.l1_offset)
    return bad("the L1 table (at " + std::to_string(h.l1_offset) + ") lies outside the file");
  std::vector<std::byte> raw(l1_bytes);
  NBD_TRY(img->read_at_(raw, h.l1_offset));
  img->l1_.resize(needed);
  for (uint64_t i = 0; i < needed; ++i) img->l1_[i] = be64(raw.data() + i * 8) & kOffsetMask;
  return img;
}

Result<std::shared_ptr<const std::vector<uint64_t>>> Image::l2_table(uint64_t host_offset) {
  {
    std::lock_guard lock(mu_);
    if (auto it = l2_cache_.find(host_offset); it != l2_cache_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second.second);
      return it->second.first;
    }
  }
  const uint64_t bytes = cluster_size();
  if (host_offset % bytes || host_offset > file_size_ || bytes > file_size_ - host_offset)
    return make_error(EIO,
                      "qcow2: an L2 table (at " + std::to_string(host_offset) + ") lies outside the file");
  std::vector<std::byte> raw(bytes);
  NBD_TRY(read_at_(raw, host_offset));
  auto table = std::make_shared<std::vector<uint64_t>>(bytes / 8);
  for (size_t i = 0; i < table->size(); ++i) (*table)[i] = be64(raw.data() + i * 8);
  std::lock_guard lock(mu_);
  if (auto it = l2_cache_.find(host_offset); it != l2_cache_.end()) return it->second.first;
  if (l2_cache_.size() >= kL2CacheTables) {
    l2_cache_.erase(lru_.back());
    lru_.pop_back();
  }
  lru_.push_front(host_offset);
  l2_cache_[host_offset] = {table, lru_.begin()};
  return std::shared_ptr<const std::vector<uint64_t>>(table);
}

Result<Cluster> Image::lookup(uint64_t offset) {
  const uint32_t cb = h_.cluster_bits, l2_bits = cb - 3;
  const uint64_t l1_index = offset >> (cb + l2_bits);
  if (l1_index >= l1_.size()) return make_error(EIO, "qcow2: offset beyond the L1 table");
  if (l1_[l1_index] == 0) return Cluster{};
  NBD_TRY_ASSIGN(auto table, l2_table(l1_[l1_index]));
  const uint64_t e = (*table)[(offset >> cb) & ((uint64_t{1} << l2_bits) - 1)];
  Cluster c;
  if (e & kCompressedFlag) {
    // Bits 0..x-1: the byte offset; x..61: 512-byte sectors after the first one, x = 70 - cb.
    const uint32_t x = 70 - cb;
    c.kind = Cluster::Kind::Compressed;
    c.host_offset = e & ((uint64_t{1} << x) - 1);
    const uint64_t sectors = ((e & ~kCompressedFlag & ~(uint64_t{1} << 63)) >> x) + 1;
    c.host_length = sectors * 512 - (c.host_offset & 511);
    if (c.host_offset >= file_size_)
      return make_error(EIO, "qcow2: a compressed cluster (at " + std::to_string(c.host_offset) +
                                 ") lies outside the file");
    c.host_length = std::min(c.host_length, file_size_ - c.host_offset);
    return c;
  }
  c.host_offset = e & kOffsetMask;
  if (e & kZeroFlag) {
    c.kind = Cluster::Kind::Zero;
  } else if (c.host_offset != 0) {
    c.kind = Cluster::Kind::Data;
    if (c.host_offset % cluster_size() || c.host_offset > file_size_ ||
        cluster_size() > file_size_ - c.host_offset)
      return make_error(
          EIO, "qcow2: a data cluster (at " + std::to_string(c.host_offset) + ") lies outside the file");
  }
  return c;
}

Status Image::inflate(std::span<const std::byte> in, std::span<std::byte> out) const {
  if (h_.compression == 1) {
    // The compressed bytes may be followed by the rest of their last sector: stream, and stop
    // once the cluster is full.
    ZSTD_DCtx* z = ZSTD_createDCtx();
    if (!z) return make_error(ENOMEM, "qcow2: out of memory for zstd");
    ZSTD_inBuffer ib{in.data(), in.size(), 0};
    ZSTD_outBuffer ob{out.data(), out.size(), 0};
    size_t r = 1;
    while (ob.pos < ob.size && ib.pos < ib.size && r != 0) {
      r = ZSTD_decompressStream(z, &ob, &ib);
      if (ZSTD_isError(r)) break;
    }
    ZSTD_freeDCtx(z);
    if (ZSTD_isError(r))
      return make_error(EIO, std::string("qcow2: corrupt zstd cluster: ") + ZSTD_getErrorName(r));
    if (ob.pos != ob.size) return make_error(EIO, "qcow2: a zstd cluster decodes to less than a cluster");
    return ok();
  }
  z_stream z{};
  if (inflateInit2(&z, -12) != Z_OK) return make_error(ENOMEM, "qcow2: cannot start zlib");
  z.next_in = reinterpret_cast<Bytef*>(const_cast<std::byte*>(in.data()));
  z.avail_in = uInt(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = uInt(out.size());
  const int r = ::inflate(&z, Z_FINISH);
  const bool full = z.avail_out == 0;
  inflateEnd(&z);
  // Z_BUF_ERROR with a full output is fine: qemu may store bytes past the stream's end.
  if ((r != Z_STREAM_END && r != Z_BUF_ERROR && r != Z_OK) || !full)
    return make_error(EIO, "qcow2: corrupt deflate cluster (zlib " + std::to_string(r) + ")");
  return ok();
}

Status Image::read_cluster(const Cluster& c, uint64_t in, std::span<std::byte> out) {
  switch (c.kind) {
    case Cluster::Kind::Unallocated:
    case Cluster::Kind::Zero: std::memset(out.data(), 0, out.size()); return ok();
    case Cluster::Kind::Data: return read_at_(out, c.host_offset + in);
    case Cluster::Kind::Compressed: {
      std::vector<std::byte> packed(c.host_length), cluster(cluster_size());
      NBD_TRY(read_at_(packed, c.host_offset));
      NBD_TRY(inflate(packed, cluster));
      std::memcpy(out.data(), cluster.data() + in, out.size());
      return ok();
    }
  }
  return ok();
}

Status Image::read(std::span<std::byte> buf, uint64_t offset) {
  while (!buf.empty()) {
    const uint64_t in = offset & (cluster_size() - 1);
    const size_t n = size_t(std::min<uint64_t>(buf.size(), cluster_size() - in));
    NBD_TRY_ASSIGN(Cluster c, lookup(offset));
    NBD_TRY(read_cluster(c, in, buf.first(n)));
    buf = buf.subspan(n);
    offset += n;
  }
  return ok();
}

}  // namespace nbd::filters::qcow2
