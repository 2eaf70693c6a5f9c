// SPDX-License-Identifier: BSD-3-Clause
// evil filter against the in-memory fake disk: corruption happens at the expected rate, is a
// function of (seed, offset) for stuck bits and of the buffer position for stuck wires, never
// happens at probability 0, and never touches what is written.
#include <gtest/gtest.h>

#include <bit>

#include "fixtures/fake_disk.h"

namespace nbd::filters {
extern const FilterInfo evil_filter_info;
namespace {

using namespace nbd::testing;

constexpr uint64_t kSize = 1 << 20;

uint64_t set_bits(const std::vector<std::byte>& b) {
  uint64_t n = 0;
  for (std::byte x : b) n += std::popcount(unsigned(x));
  return n;
}

// Reads [offset, offset+count) of a zeroed disk through an evil filter configured with kv.
std::vector<std::byte> read_through(const std::vector<std::pair<std::string, std::string>>& kv,
                                    uint64_t offset, uint64_t count, FakeDisk* shared = nullptr) {
  FakeDisk local(kSize);
  FakeDisk& disk = shared ? *shared : local;
  auto f = evil_filter_info.factory();
  EXPECT_TRUE(configure(*f, kv));
  auto c = open_over(*f, disk);
  std::vector<std::byte> buf(count);
  EXPECT_TRUE((*c)->pread(buf, offset, 0));
  return buf;
}

TEST(EvilFilter, ProbabilityZeroChangesNothing) {
  FakeDisk disk(kSize);
  for (uint64_t i = 0; i < kSize; ++i) disk.bytes()[i] = std::byte(i * 13);
  for (const char* mode : {"cosmic-rays", "stuck-bits", "stuck-wires"}) {
    auto buf = read_through({{"evil", mode}, {"evil-probability", "0"}}, 0, kSize, &disk);
    EXPECT_EQ(buf, disk.bytes()) << mode;
  }
}

TEST(EvilFilter, CosmicRaysFlipAtTheExpectedRate) {
  auto buf =
      read_through({{"evil", "cosmic-rays"}, {"evil-probability", "1e-3"}, {"evil-seed", "1"}}, 0, kSize);
  // 8 Mbit at 1e-3: about 8389 flips; the bounds are many standard deviations (~92) wide.
  uint64_t n = set_bits(buf);
  EXPECT_GT(n, 7400u);
  EXPECT_LT(n, 9400u);
  auto all = read_through({{"evil", "cosmic-rays"}, {"evil-probability", "1"}}, 0, 4096);
  EXPECT_EQ(all, std::vector<std::byte>(4096, std::byte{0xff}));
}

TEST(EvilFilter, StuckBitsAreAFunctionOfSeedAndOffset) {
  std::vector<std::pair<std::string, std::string>> kv = {{"evil-probability", "1e-3"}, {"evil-seed", "42"}};
  auto whole = read_through(kv, 0, kSize);
  // About half the stuck bits are stuck high, and only those show on a zeroed disk.
  uint64_t n = set_bits(whole);
  EXPECT_GT(n, 3500u);
  EXPECT_LT(n, 4900u);
  EXPECT_EQ(read_through(kv, 0, kSize), whole);
  // Any sub-range reads the same stuck bits, even across the 64 KiB layout blocks.
  auto part = read_through(kv, 65536 - 1000, 70000);
  EXPECT_TRUE(std::equal(part.begin(), part.end(), whole.begin() + 65536 - 1000));
  auto other = read_through({{"evil-probability", "1e-3"}, {"evil-seed", "43"}}, 0, kSize);
  EXPECT_NE(other, whole);
}

TEST(EvilFilter, StuckBitsStickLowToo) {
  FakeDisk disk(kSize);
  std::fill(disk.bytes().begin(), disk.bytes().end(), std::byte{0xff});
  auto buf = read_through({{"evil-probability", "1e-3"}, {"evil-seed", "42"}}, 0, kSize, &disk);
  uint64_t low = kSize * 8 - set_bits(buf);
  EXPECT_GT(low, 3500u);
  EXPECT_LT(low, 4900u);
}

TEST(EvilFilter, StuckWiresSitAtTheSamePlaceInEveryRead) {
  std::vector<std::pair<std::string, std::string>> kv = {
      {"evil", "stuck-wires"}, {"evil-probability", "1e-3"}, {"evil-seed", "7"}};
  auto a = read_through(kv, 0, 65536);
  auto b = read_through(kv, 300000, 65536);
  EXPECT_EQ(a, b);
  EXPECT_GT(set_bits(a), 100u);
  auto bits =
      read_through({{"evil", "stuck-bits"}, {"evil-probability", "1e-3"}, {"evil-seed", "7"}}, 300000, 65536);
  EXPECT_NE(bits, b);
}

TEST(EvilFilter, StuckProbabilityZeroReadsTheTrueValue) {
  auto buf = read_through({{"evil-probability", "0.5"}, {"evil-stuck-probability", "0"}}, 0, 65536);
  EXPECT_EQ(set_bits(buf), 0u);
}

TEST(EvilFilter, WritesAreNotCorrupted) {
  FakeDisk disk(kSize);
  auto f = evil_filter_info.factory();
  ASSERT_TRUE(configure(*f, {{"evil", "cosmic-rays"}, {"evil-probability", "1"}}));
  auto c = open_over(*f, disk);
  ASSERT_TRUE((*c)->pwrite(bytes_of("clean"), 0, 0));
  EXPECT_EQ(std::vector<std::byte>(disk.bytes().begin(), disk.bytes().begin() + 5), bytes_of("clean"));
}

TEST(EvilFilter, RefusesBadValuesAndLeavesOtherKeys) {
  auto f = evil_filter_info.factory();
  auto r = f->config("evil", "gamma-rays");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("evil=gamma-rays"), std::string::npos);
  EXPECT_FALSE(f->config("evil-probability", "2"));
  EXPECT_FALSE(f->config("evil-probability", "x"));
  EXPECT_FALSE(f->config("evil-stuck-probability", "-1"));
  EXPECT_FALSE(f->config("evil-seed", "abc"));
  EXPECT_FALSE(*f->config("size", "1"));
}

}  // namespace
}  // namespace nbd::filters
