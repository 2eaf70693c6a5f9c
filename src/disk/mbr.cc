// SPDX-License-Identifier: BSD-3-Clause
// MBR partition table encoding (see mbr.h).
#include "disk/mbr.h"

#include <cstring>

namespace nbd::mbr {
namespace {

void put_le32(std::byte* p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = std::byte((v >> (8 * i)) & 0xff);
}

}  // namespace

void encode_entry(const Entry& e, std::byte* p) {
  // CHS addressing cannot describe modern disks; 0xfe 0xff 0xff tells readers to use LBA.
  static constexpr std::byte kChsLba[3] = {std::byte{0xfe}, std::byte{0xff}, std::byte{0xff}};
  p[0] = e.bootable ? std::byte{0x80} : std::byte{0};
  std::memcpy(p + 1, kChsLba, 3);
  p[4] = std::byte{e.type};
  std::memcpy(p + 5, kChsLba, 3);
  put_le32(p + 8, static_cast<uint32_t>(e.start_sector));
  put_le32(p + 12, static_cast<uint32_t>(e.sectors));
}

void encode_table(std::span<std::byte> sector, std::span<const Entry> entries, uint32_t disk_signature) {
  std::memset(sector.data() + 440, 0, 512 - 440);
  put_le32(sector.data() + 440, disk_signature);
  for (size_t i = 0; i < entries.size() && i < 4; i++) encode_entry(entries[i], sector.data() + 446 + 16 * i);
  sector[510] = std::byte{0x55};
  sector[511] = std::byte{0xaa};
}

}  // namespace nbd::mbr
