// SPDX-License-Identifier: BSD-3-Clause
// Reading MBR and GPT partition tables for the partition filter: where partition N of a disk
// lies, found through a read callback so the filter reads the disk below and the tests read a
// buffer. Every field read from the disk is checked before it is used.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>

#include "nbd/result.h"

namespace nbd::partition {

// Reads buf.size() bytes at offset of the disk; offset+size never exceeds the disk's size.
using ReadAt = std::function<Status(std::span<std::byte> buf, uint64_t offset)>;

struct Window {
  uint64_t offset = 0;  // bytes from the start of the disk
  uint64_t length = 0;  // bytes
  std::string table;    // "MBR" or "GPT", for the log
};

// Finds partition `number` (1-based; MBR logical partitions from 5, numbered as Linux does) of
// a disk of disk_size bytes whose tables use sector_size (512 or 4096) byte sectors.
// EINVAL with one line saying what is wrong: no table, a corrupt table (signature, sizes, CRC,
// EBR chain), no such partition, or a partition extending beyond the disk. A GPT whose primary
// header or entries are damaged is read from its backup at the last sector, as Linux does.
Result<Window> find_partition(const ReadAt& read, uint64_t disk_size, uint32_t sector_size, uint32_t number);

}  // namespace nbd::partition
