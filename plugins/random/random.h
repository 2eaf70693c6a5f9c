// SPDX-License-Identifier: BSD-3-Clause
// The random plugin's generator, shared with its test.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace nbd::plugins {

// Fills buf with bytes [offset, offset + buf.size()) of the random disk for seed, the bytes
// upstream nbdkit's random plugin serves for that seed: byte i of the disk is the low byte of the
// third output of xoshiro256** seeded like upstream (Xoshiro256::like_nbdkit) with seed + i.
// Any byte can be computed without generating the bytes before it.
void fill_random(std::span<std::byte> buf, uint64_t offset, uint64_t seed);

}  // namespace nbd::plugins
