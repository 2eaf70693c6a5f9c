// SPDX-License-Identifier: BSD-3-Clause
// The pattern plugin's generator, shared with its test.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace nbd::plugins {

// Fills buf with the bytes of [offset, offset + buf.size()) of the pattern: each 8-byte
// aligned offset holds itself as a big-endian 64-bit number. Any offset and length.
void fill_pattern(std::span<std::byte> buf, uint64_t offset);

}  // namespace nbd::plugins
