// SPDX-License-Identifier: BSD-3-Clause
// The random plugin's generator, shared with its test.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace nbd::plugins {

// Fills buf with bytes [offset, offset + buf.size()) of the random disk for seed. Byte i of the
// disk is byte (i % 8) of the little-endian 64-bit value splitmix64(seed + (i / 8 + 1) * G),
// G = 0x9e3779b97f4a7c15, where splitmix64's output step is
//   z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9; z = (z ^ (z >> 27)) * 0x94d049bb133111eb; z ^ (z >> 31)
// (all mod 2^64). Any byte can be computed without generating the bytes before it.
void fill_random(std::span<std::byte> buf, uint64_t offset, uint64_t seed);

}  // namespace nbd::plugins
