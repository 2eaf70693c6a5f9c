// SPDX-License-Identifier: BSD-3-Clause
// Finding one entry of an uncompressed tar file for the tar filter: the tar headers are read
// one 512-byte block at a time through a read callback, each checksum checked, and the data of
// the other entries skipped unread. Formats: v7, ustar (with prefix), GNU (long names 'L',
// base-256 sizes) and pax ('x' and 'g' headers with path= and size=).
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string_view>

#include "nbd/result.h"

namespace nbd::tar {

// Reads buf.size() bytes at offset of the tar file; offset+size never exceeds its size.
using ReadAt = std::function<Status(std::span<std::byte> buf, uint64_t offset)>;

struct Entry {
  uint64_t offset = 0;  // of the entry's data in the tar file (a multiple of 512)
  uint64_t size = 0;    // bytes
};

// Finds the first entry whose full name is exactly `name` in a tar file of file_size bytes,
// reading no header that ends past `limit` bytes (0: no limit). EINVAL, with one line naming
// the entry or the offset of the bad header, when: the entry is not in the archive, a header
// checksum or field is corrupt, an entry extends beyond the end of the file, the limit is
// reached, or the entry is not a plain file (directory, link, GNU sparse or multi-volume).
Result<Entry> find_entry(const ReadAt& read, uint64_t file_size, std::string_view name, uint64_t limit);

}  // namespace nbd::tar
