// SPDX-License-Identifier: BSD-3-Clause
// nozero filter against the in-memory fake disk.
#include <gtest/gtest.h>

#include "fixtures/fake_disk.h"

namespace nbd::filters {
extern const FilterInfo nozero_filter_info;
namespace {

using namespace nbd::testing;  // FakeDisk, FakeCall, configure, open_over, bytes_of

struct Caps {
  std::string zm, fm;
  bool zero, fast_zero;
};

// The table upstream's nbdkit 1.32 prints (nbdinfo can_zero/can_fast_zero over memory).
TEST(NozeroFilter, AdvertisesLikeUpstream) {
  const Caps table[] = {
      {"none", "default", false, false}, {"none", "slow", false, false},   {"emulate", "default", true, true},
      {"emulate", "none", true, false},  {"emulate", "slow", true, true},  {"emulate", "ignore", true, true},
      {"notrim", "default", true, true}, {"notrim", "none", true, false},  {"plugin", "default", true, true},
      {"plugin", "none", true, false},   {"plugin", "ignore", true, true},
  };
  for (const auto& t : table) {
    FakeDisk disk(100);
    auto f = nozero_filter_info.factory();
    ASSERT_TRUE(configure(*f, {{"zeromode", t.zm}, {"fastzeromode", t.fm}}));
    auto c = open_over(*f, disk);
    ASSERT_TRUE(c);
    EXPECT_EQ(*(*c)->can_zero() != ZeroMode::None, t.zero) << t.zm << " " << t.fm;
    EXPECT_EQ(*(*c)->can_fast_zero(), t.fast_zero) << t.zm << " " << t.fm;
  }
}

TEST(NozeroFilter, PluginModeFollowsThePluginsFastZero) {
  FakeDisk disk(100);
  disk.caps().fast_zero = false;
  auto f = nozero_filter_info.factory();
  ASSERT_TRUE(configure(*f, {{"zeromode", "plugin"}}));
  auto c = open_over(*f, disk);
  EXPECT_FALSE(*(*c)->can_fast_zero());
}

TEST(NozeroFilter, EmulateWritesZeroesAndFailsFastZero) {
  FakeDisk disk(3 << 20);
  std::fill(disk.bytes().begin(), disk.bytes().end(), std::byte{1});
  auto f = nozero_filter_info.factory();
  ASSERT_TRUE(configure(*f, {{"zeromode", "emulate"}}));
  auto c = open_over(*f, disk);
  auto r = (*c)->zero(10, 0, kFastZero);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().errnum, ENOTSUP);
  EXPECT_TRUE(disk.calls().empty());
  ASSERT_TRUE((*c)->zero((2 << 20) + 5, 7, kMayTrim | kFua));
  // The core's boundary above the filter emulates: writes, the last one with FUA.
  std::vector<FakeCall> want = {
      {"pwrite", 7, 1 << 20, 0}, {"pwrite", 7 + (1 << 20), 1 << 20, 0}, {"pwrite", 7 + (2 << 20), 5, kFua}};
  EXPECT_EQ(disk.calls(), want);
  EXPECT_EQ(disk.bytes()[6], std::byte{1});
  EXPECT_EQ(disk.bytes()[7], std::byte{0});
  EXPECT_EQ(disk.bytes()[(2 << 20) + 11], std::byte{0});
  EXPECT_EQ(disk.bytes()[(2 << 20) + 12], std::byte{1});
  EXPECT_FALSE(disk.is_hole(7)) << "emulated zeroes are written, never trimmed";
}

TEST(NozeroFilter, EmulateRefusesFastZeroEvenWithIgnore) {
  FakeDisk disk(100);
  auto f = nozero_filter_info.factory();
  ASSERT_TRUE(configure(*f, {{"zeromode", "emulate"}, {"fastzeromode", "ignore"}}));
  auto c = open_over(*f, disk);
  EXPECT_TRUE(*(*c)->can_fast_zero());
  EXPECT_EQ((*c)->zero(10, 0, kFastZero).error().errnum, ENOTSUP);
  EXPECT_TRUE(disk.calls().empty());
}

TEST(NozeroFilter, NotrimDropsMayTrimAndIgnoreDropsFastZero) {
  FakeDisk disk(100);
  auto f = nozero_filter_info.factory();
  ASSERT_TRUE(configure(*f, {{"zeromode", "notrim"}, {"fastzeromode", "ignore"}}));
  auto c = open_over(*f, disk);
  ASSERT_TRUE((*c)->zero(10, 0, kMayTrim | kFastZero | kFua));
  EXPECT_EQ(disk.calls(), (std::vector<FakeCall>{{"zero", 0, 10, kFua}}));
}

TEST(NozeroFilter, SlowFailsFastZeroAndPluginForwards) {
  FakeDisk disk(100);
  auto f = nozero_filter_info.factory();
  ASSERT_TRUE(configure(*f, {{"zeromode", "plugin"}, {"fastzeromode", "slow"}}));
  auto c = open_over(*f, disk);
  EXPECT_EQ((*c)->zero(10, 0, kFastZero).error().errnum, ENOTSUP);
  ASSERT_TRUE((*c)->zero(10, 0, kMayTrim));
  EXPECT_EQ(disk.calls(), (std::vector<FakeCall>{{"zero", 0, 10, kMayTrim}}));
}

TEST(NozeroFilter, RejectsUnknownModesAndPluginsWithoutZero) {
  auto f = nozero_filter_info.factory();
  auto r = f->config("zeromode", "foo");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("zeromode=foo"), std::string::npos);
  EXPECT_FALSE(f->config("fastzeromode", "fast"));
  ASSERT_TRUE(configure(*f, {{"zeromode", "notrim"}}));
  FakeDisk disk(100);
  disk.caps().zero = false;
  auto c = open_over(*f, disk);
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("requires the plugin to support zero"), std::string::npos);
}

}  // namespace
}  // namespace nbd::filters
