// SPDX-License-Identifier: BSD-3-Clause
// zero_buffer and is_zero (see zero.h).
#include "common/zero.h"

#include <algorithm>
#include <cstring>

namespace nbd {

namespace {
// Zero-initialised static storage: in .bss, so untouched pages cost no memory.
const std::byte kZeroes[kZeroBufferSize] = {};
}  // namespace

std::span<const std::byte> zero_buffer() { return {kZeroes, kZeroBufferSize}; }

bool is_zero(std::span<const std::byte> buf) {
  // Check a short prefix byte by byte so random data exits at once, then compare the buffer
  // with itself shifted by 16 bytes: memcmp is vectorised and stops at the first difference.
  const size_t n = buf.size();
  const std::byte* p = buf.data();
  for (size_t i = 0; i < std::min<size_t>(n, 16); ++i)
    if (p[i] != std::byte{0}) return false;
  return n <= 16 || std::memcmp(p, p + 16, n - 16) == 0;
}

}  // namespace nbd
