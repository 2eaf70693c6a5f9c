// SPDX-License-Identifier: BSD-3-Clause
#include "common/zero.h"

#include <gtest/gtest.h>

#include <vector>

namespace nbd {
namespace {

TEST(IsZero, DetectsAnyNonZeroByte) {
  for (size_t n : {0, 1, 15, 16, 17, 4096}) {
    std::vector<std::byte> z(n);
    EXPECT_TRUE(is_zero(z)) << n;
    for (size_t i = 0; i < n; i += (n / 7) + 1) {
      z[i] = std::byte{1};
      EXPECT_FALSE(is_zero(z)) << n << " at " << i;
      z[i] = std::byte{0};
    }
    if (n) {
      z[n - 1] = std::byte{1};
      EXPECT_FALSE(is_zero(z)) << n << " last";
    }
  }
}

TEST(ZeroBuffer, IsOneMebibyteOfZeroes) {
  auto z = zero_buffer();
  ASSERT_EQ(z.size(), kZeroBufferSize);
  EXPECT_EQ(z.size(), size_t{1} << 20);
  EXPECT_TRUE(is_zero(z));
  EXPECT_EQ(zero_buffer().data(), z.data());  // one buffer, not one per call
}

}  // namespace
}  // namespace nbd
