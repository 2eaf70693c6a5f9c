// SPDX-License-Identifier: BSD-3-Clause
// GPT partition table encoding for the virtual disk plugins (partitioning, linuxdisk): the
// protective MBR, primary and secondary headers and entry arrays, CRC32 and GUIDs.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "nbd/result.h"

namespace nbd::gpt {

// CRC-32 (IEEE 802.3, reflected, as GPT and zlib use), continuing from crc (0 to start).
uint32_t crc32(const void* data, size_t len, uint32_t crc = 0);

// A GUID in its on-disk byte order (first three fields little-endian).
using Guid = std::array<uint8_t, 16>;
// Parses "0FC63DAF-8483-4772-8E79-3D69D8477DE4" (either case). `what` names the parameter.
Result<Guid> parse_guid(std::string_view what, std::string_view text);
std::string format_guid(const Guid& g);
// A version-4-shaped GUID derived from a string, so the same input gives the same disk.
Guid guid_from_string(std::string_view seed);

inline constexpr Guid kLinuxFilesystem = {0xaf, 0x3d, 0xc6, 0x0f, 0x83, 0x84, 0x72, 0x47,
                                          0x8e, 0x79, 0x3d, 0x69, 0xd8, 0x47, 0x7d, 0xe4};
inline constexpr uint64_t kAttrLegacyBootable = 1ull << 2;

struct Partition {
  Guid type = kLinuxFilesystem;
  Guid unique{};
  uint64_t first_lba = 0, last_lba = 0;  // inclusive
  uint64_t attributes = 0;
  std::string name;  // UTF-8; stored as up to 36 UTF-16 code units
};

// Number of entries in the arrays (at least 128, a multiple of 4) and the sectors they fill.
uint32_t entry_count(size_t partitions);
inline uint64_t entry_sectors(uint32_t count) { return count / 4; }
// Sectors taken at the start (protective MBR + header + entries) and end (entries + header).
inline uint64_t primary_sectors(uint32_t count) { return 2 + entry_sectors(count); }
inline uint64_t secondary_sectors(uint32_t count) { return 1 + entry_sectors(count); }

struct Tables {
  std::vector<std::byte> primary;    // LBA 0 .. primary_sectors-1
  std::vector<std::byte> secondary;  // the last secondary_sectors sectors of the disk
};

// Builds both tables of a disk of disk_sectors 512-byte sectors. Partitions must lie inside
// the usable area [primary_sectors, disk_sectors - secondary_sectors).
Tables build_tables(uint64_t disk_sectors, const std::vector<Partition>& parts, const Guid& disk_guid);

}  // namespace nbd::gpt
