// SPDX-License-Identifier: BSD-3-Clause
// Fuzz target: the filters' on-disk format parsers, on arbitrary files: the tar filter's
// header scan (entry "a"), the partition filter's MBR/GPT reader (partition 1-8, 512- or
// 4096-byte sectors) and the xz filter's index reader and block decoder (blocks up to 1 MiB,
// as xz-max-block would refuse larger), and the qcow2dec filter's header, L1/L2 and cluster
// reader (zlib and zstd). input[0] picks the parser and its argument; the rest is the file. An answer must
// lie inside the file: a tar entry or a partition within it.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>
#include <vector>

#include "partition_table.h"
#include "qcow2_image.h"
#include "tar_scan.h"
#include "xz_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  uint8_t which = data[0];
  std::span<const std::byte> file(reinterpret_cast<const std::byte*>(data + 1), size - 1);
  // Reads within the file only: the callers promise offset + size <= the size they were given.
  auto read = [&](std::span<std::byte> buf, uint64_t offset) -> nbd::Status {
    if (offset > file.size() || buf.size() > file.size() - offset) abort();
    std::memcpy(buf.data(), file.data() + offset, buf.size());
    return nbd::ok();
  };
  switch (which % 4) {
    case 0: {
      auto e = nbd::tar::find_entry(read, file.size(), "a", (which & 0x80) ? 4096 : 0);
      if (e && (e->offset > file.size() || e->size > file.size() - e->offset)) abort();
      break;
    }
    case 1: {
      uint32_t ss = (which & 0x80) ? 4096 : 512;
      auto w = nbd::partition::find_partition(read, file.size(), ss, 1 + ((which >> 2) & 7));
      if (w && (w->offset > file.size() || w->length > file.size() - w->offset)) abort();
      break;
    }
    case 2: {
      auto index = nbd::filters::xz::XzIndex::read(read, file.size());
      if (!index) break;
      std::vector<std::byte> out;
      int decoded = 0;
      for (const auto& b : index->blocks()) {
        if (b.coffset > file.size() || b.total_size > file.size() - b.coffset) abort();
        if (b.usize > (1 << 20) || decoded++ == 4) continue;
        out.resize(size_t(b.usize));
        (void)nbd::filters::xz::decode_block(read, b, out);
      }
      break;
    }
    case 3: {
      auto img = nbd::filters::qcow2::Image::open(read, file.size());
      if (!img) break;
      std::vector<std::byte> out(64 << 10);
      const uint64_t disk = (*img)->size();
      for (uint64_t at : {uint64_t{0}, disk / 2, disk > out.size() ? disk - out.size() : 0}) {
        const size_t n = size_t(std::min<uint64_t>(out.size(), disk - std::min(at, disk)));
        (void)(*img)->read(std::span(out).first(n), at);
      }
      break;
    }
  }
  return 0;
}
