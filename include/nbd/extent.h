// SPDX-License-Identifier: BSD-3-Clause
// The vocabulary every layer shares for allocation maps and block sizes: plugins and filters
// report Extents, the client hands them to callers, nbdcopy plans copies with them.
#pragma once

#include <cstdint>

namespace nbd {

// base:allocation status flags, with the values NBD_STATE_HOLE and NBD_STATE_ZERO have on the
// wire (and nbdkit's NBDKIT_EXTENT_*, libnbd's LIBNBD_STATE_*). 0 means allocated data.
inline constexpr uint32_t kExtentHole = 1 << 0;  // not allocated
inline constexpr uint32_t kExtentZero = 1 << 1;  // reads as zeroes

// One run of an export with the same status. Flags are 64 bits because extended headers carry
// 64-bit status values for other metadata contexts; for base:allocation only the two above.
struct Extent {
  uint64_t offset = 0;
  uint64_t length = 0;
  uint64_t flags = 0;

  uint64_t end() const { return offset + length; }
  bool reads_as_zero() const { return (flags & kExtentZero) != 0; }
};

// Block size constraints (NBD_INFO_BLOCK_SIZE), in bytes. All zero means "no constraint".
struct BlockSize {
  uint32_t minimum = 0;
  uint32_t preferred = 0;
  uint32_t maximum = 0;
};

}  // namespace nbd
