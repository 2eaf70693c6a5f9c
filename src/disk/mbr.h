// SPDX-License-Identifier: BSD-3-Clause
// MBR (DOS) partition table encoding for the virtual disk plugins (partitioning, floppy,
// GPT's protective MBR). Sectors are 512 bytes; all addresses are LBA.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace nbd::mbr {

inline constexpr uint64_t kSectorSize = 512;
inline constexpr uint64_t kMaxSectors = 0xffffffffu;  // start and size are 32-bit sector counts

struct Entry {
  uint8_t type = 0;  // 0x83 Linux, 0x0c FAT32 LBA, 0x0f extended LBA, 0xee GPT protective
  bool bootable = false;
  uint64_t start_sector = 0;  // must be <= kMaxSectors
  uint64_t sectors = 0;       // must be <= kMaxSectors
};

// Writes one 16-byte partition entry at p. CHS fields carry the "use LBA" marker.
void encode_entry(const Entry& e, std::byte* p);

// Fills a 512-byte sector with a partition table: zeroes the table area, writes up to four
// entries and the 0x55 0xAA signature. Bytes before offset 440 (boot code) are left alone;
// disk_signature goes at offset 440.
void encode_table(std::span<std::byte> sector, std::span<const Entry> entries, uint32_t disk_signature = 0);

}  // namespace nbd::mbr
