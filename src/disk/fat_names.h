// SPDX-License-Identifier: BSD-3-Clause
// FAT directory entries for the floppy plugin: 8.3 short names (with the ~N tails Windows
// uses for long names), long file name (VFAT) entries and their checksum, DOS timestamps.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "nbd/result.h"

namespace nbd::fat {

using ShortName = std::array<char, 11>;  // "NAME    EXT", space padded, no dot

// The name as a short name if it already is a valid upper-case 8.3 name, so it needs no LFN.
bool exact_short_name(std::string_view name, ShortName& out);

// A unique short name for a long name ("A long file.bin" -> "ALONGF~1BIN"), not in `used`.
ShortName generate_short_name(std::string_view name, const std::set<ShortName>& used);

uint8_t lfn_checksum(const ShortName& s);

// UTF-8 to UTF-16 (surrogate pairs above U+FFFF; bad bytes become '_').
std::u16string utf8_to_utf16(std::string_view s);

// The LFN entries (32 bytes each, in on-disk order) that precede the short entry of `name`.
// Fails if the name is longer than 255 UTF-16 units.
Result<std::vector<std::array<std::byte, 32>>> lfn_entries(std::string_view name, const ShortName& s);

struct DirEntry {
  ShortName name;
  uint8_t attributes = 0;  // 0x10 directory, 0x20 archive, 0x08 volume label
  uint32_t first_cluster = 0;
  uint32_t size = 0;
  time_t mtime = 0;
};
inline constexpr uint8_t kAttrVolumeLabel = 0x08;
inline constexpr uint8_t kAttrDirectory = 0x10;
inline constexpr uint8_t kAttrArchive = 0x20;

// The 32-byte short directory entry.
std::array<std::byte, 32> encode_entry(const DirEntry& e);

}  // namespace nbd::fat
