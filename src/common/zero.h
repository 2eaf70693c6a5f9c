// SPDX-License-Identifier: BSD-3-Clause
// Zeroes: the one shared read-only zero buffer (for writing zeroes where a layer cannot punch
// or zero natively) and the one fast all-zero test (sparse writes, nbdcopy's zero detection).
#pragma once

#include <cstddef>
#include <span>

namespace nbd {

// kZeroBufferSize bytes of zeroes, never written, alive for the whole process. Thread-safe.
inline constexpr size_t kZeroBufferSize = size_t{1} << 20;
std::span<const std::byte> zero_buffer();

// True if every byte of buf is zero (true for an empty buf). Runs at memory bandwidth.
bool is_zero(std::span<const std::byte> buf);

}  // namespace nbd
