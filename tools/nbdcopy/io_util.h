// SPDX-License-Identifier: BSD-3-Clause
// Small POSIX helpers for nbdcopy's file and pipe endpoints: whole-buffer reads and writes
// that retry on EINTR and short transfers, hole discovery and zero detection.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "common/zero.h"  // is_zero, zero_buffer
#include "endpoint.h"
#include "nbd/result.h"

namespace nbd::copy {

// Reads until buf is full or end of file; returns the byte count.
Result<size_t> pread_full(int fd, std::span<std::byte> buf, uint64_t offset);
Status pwrite_full(int fd, std::span<const std::byte> buf, uint64_t offset);
// Sequential (stream) versions.
Result<size_t> read_full(int fd, std::span<std::byte> buf);
Status write_full(int fd, std::span<const std::byte> buf);
// Writes count zero bytes at offset (positioned) or, with offset = kStreamOffset, in sequence.
inline constexpr uint64_t kStreamOffset = ~uint64_t{0};
Status write_zeroes(int fd, uint64_t count, uint64_t offset);
// Data and hole runs of [offset, offset+count) by lseek SEEK_DATA/SEEK_HOLE (all data where
// the filesystem cannot tell).
Status seek_extents(int fd, uint64_t count, uint64_t offset, std::vector<Extent>& out);

}  // namespace nbd::copy
