// SPDX-License-Identifier: BSD-3-Clause
// pattern plugin: the generator against a byte-by-byte definition at every alignment, and
// the plugin's size handling through the plugin API.
#include "pattern.h"

#include <gtest/gtest.h>

#include <vector>

#include "nbd/plugin.h"

namespace nbd::plugins {
extern const PluginInfo pattern_plugin_info;
namespace {

// The definition: byte i of the disk is byte (i % 8) of big-endian (i rounded down to 8).
std::byte expected_byte(uint64_t i) {
  uint64_t word = i & ~uint64_t{7};
  return std::byte((word >> (8 * (7 - (i & 7)))) & 0xff);
}

TEST(Pattern, MatchesDefinitionAtEveryAlignment) {
  const uint64_t bases[] = {0, 4096, (uint64_t{1} << 40) + 3, INT64_MAX - 100};
  for (uint64_t base : bases) {
    for (uint64_t skew = 0; skew < 9; ++skew) {
      for (size_t len : {0, 1, 3, 7, 8, 9, 15, 16, 17, 64, 100}) {
        std::vector<std::byte> buf(len, std::byte{0xee});
        fill_pattern(buf, base + skew);
        for (size_t i = 0; i < len; ++i) {
          ASSERT_EQ(buf[i], expected_byte(base + skew + i))
              << base << "+" << skew << " len " << len << " i " << i;
        }
      }
    }
  }
}

TEST(Pattern, KnownBytesFromManPage) {
  std::vector<std::byte> buf(0x30);
  fill_pattern(buf, 0);
  EXPECT_EQ(buf[0x0f], std::byte{0x08});
  EXPECT_EQ(buf[0x17], std::byte{0x10});
  EXPECT_EQ(buf[0x2f], std::byte{0x28});
  EXPECT_EQ(buf[0x28], std::byte{0x00});
}

TEST(PatternPlugin, ReadOnlyAndSized) {
  auto p = pattern_plugin_info.factory();
  ASSERT_TRUE(p->config("size", "1M"));
  ASSERT_TRUE(p->config_complete());
  auto c = p->open(OpenParams{});
  ASSERT_TRUE(c);
  EXPECT_EQ(*(*c)->get_size(), 1u << 20);
  EXPECT_FALSE(*(*c)->can_write());
  std::vector<std::byte> buf(16);
  ASSERT_TRUE((*c)->pread(buf, 1000, 0));
  EXPECT_EQ(buf[7], std::byte{0xe8});  // 1000 = 0x3e8
  EXPECT_EQ(buf[6], std::byte{0x03});
  EXPECT_FALSE(p->config("size", "1Q"));
}

}  // namespace
}  // namespace nbd::plugins
