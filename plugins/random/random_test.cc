// SPDX-License-Identifier: BSD-3-Clause
// random plugin: the documented generator (random.h) byte for byte, reproducibility by seed,
// and the write check, through the plugin API.
#include "random.h"

#include <gtest/gtest.h>

#include <set>
#include <vector>

#include "nbd/plugin.h"

namespace nbd::plugins {
extern const PluginInfo random_plugin_info;
namespace {

// Straight from upstream's description, one byte at a time: SplitMix64 fills the four state
// words from seed + i, then three xoshiro256** steps, and the low byte of the third result.
uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

std::byte definition(uint64_t i, uint64_t seed) {
  uint64_t x = seed + i, s[4];
  for (auto& w : s) {
    x += 0x9e3779b97f4a7c15ULL;
    uint64_t z = x;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    w = z ^ (z >> 31);
  }
  uint64_t result = 0;
  for (int step = 0; step < 3; ++step) {
    result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0], s[3] ^= s[1], s[1] ^= s[2], s[0] ^= s[3], s[2] ^= t, s[3] = rotl(s[3], 45);
  }
  return std::byte(result & 0xff);
}

TEST(RandomGenerator, MatchesDefinitionAtAnyOffset) {
  for (uint64_t seed : {uint64_t{0}, uint64_t{1}, uint64_t{123456789}}) {
    for (uint64_t off : {uint64_t{0}, uint64_t{5}, uint64_t{4096 + 3}, uint64_t{1} << 50}) {
      std::vector<std::byte> buf(37);
      fill_random(buf, off, seed);
      for (size_t i = 0; i < buf.size(); ++i)
        ASSERT_EQ(buf[i], definition(off + i, seed)) << seed << " " << off + i;
    }
  }
}

TEST(RandomGenerator, FirstBytesOfSeed1AreUpstreams) {
  // What Debian's nbdkit 1.32 serves for `random seed=1` at offset 0.
  const uint8_t want[] = {0x14, 0x05, 0x51, 0x7e, 0xae, 0x48, 0x96, 0x06};
  std::vector<std::byte> buf(8);
  fill_random(buf, 0, 1);
  for (size_t i = 0; i < 8; ++i) EXPECT_EQ(buf[i], std::byte(want[i])) << i;
}

TEST(RandomGenerator, LooksRandomAndDependsOnSeed) {
  std::vector<std::byte> a(65536), b(65536);
  fill_random(a, 0, 1);
  fill_random(b, 0, 2);
  EXPECT_NE(a, b);
  std::set<std::byte> seen(a.begin(), a.end());
  EXPECT_EQ(seen.size(), 256u);  // every byte value shows up in 64K
}

std::unique_ptr<Connection> open_random(const char* seed) {
  auto p = random_plugin_info.factory();
  EXPECT_TRUE(p->config("size", "1M"));
  if (seed) {
    EXPECT_TRUE(p->config("seed", seed));
  }
  EXPECT_TRUE(p->config_complete());
  auto c = p->open(OpenParams{});
  EXPECT_TRUE(c);
  return std::move(*c);
}

TEST(RandomPlugin, SameSeedSameDataAndWritesMustMatch) {
  auto a = open_random("42"), b = open_random("42");
  std::vector<std::byte> x(10000), y(10000);
  ASSERT_TRUE(a->pread(x, 777, 0));
  ASSERT_TRUE(b->pread(y, 777, 0));
  EXPECT_EQ(x, y);
  ASSERT_TRUE(a->pwrite(x, 777, 0));  // what is there: accepted
  x[9999] ^= std::byte{1};
  auto st = a->pwrite(x, 777, 0);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().errnum, EIO);
  EXPECT_FALSE(a->zero(512, 0, 0));
  EXPECT_FALSE(a->trim(512, 0, 0));
}

TEST(RandomPlugin, SeedMustBeANumber) {
  auto p = random_plugin_info.factory();
  auto st = p->config("seed", "abc");
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("seed"), std::string::npos);
}

}  // namespace
}  // namespace nbd::plugins
