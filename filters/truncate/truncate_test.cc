// SPDX-License-Identifier: BSD-3-Clause
// truncate filter against the in-memory fake disk.
#include <gtest/gtest.h>

#include "fixtures/fake_disk.h"

namespace nbd::filters {
extern const FilterInfo truncate_filter_info;
namespace {

using namespace nbd::testing;  // FakeDisk, FakeCall, configure, open_over, bytes_of

uint64_t size_with(std::vector<std::pair<std::string, std::string>> kv, uint64_t real) {
  FakeDisk disk(real);
  auto f = truncate_filter_info.factory();
  EXPECT_TRUE(configure(*f, kv));
  auto c = open_over(*f, disk);
  EXPECT_TRUE(c);
  return *(*c)->get_size();
}

TEST(TruncateFilter, ComputesSizeLikeUpstream) {
  EXPECT_EQ(size_with({}, 1000), 1000u);
  EXPECT_EQ(size_with({{"truncate", "500"}}, 1000), 500u);
  EXPECT_EQ(size_with({{"truncate", "2K"}}, 1000), 2048u);
  EXPECT_EQ(size_with({{"round-up", "512"}}, 1000), 1024u);
  EXPECT_EQ(size_with({{"round-up", "512"}}, 1024), 1024u);
  EXPECT_EQ(size_with({{"round-down", "512"}}, 1000), 512u);
  EXPECT_EQ(size_with({{"truncate", "3000"}, {"round-up", "4096"}}, 1000), 4096u);
  EXPECT_EQ(size_with({{"round-up", "4096"}, {"round-down", "512"}}, 1000), 4096u);
}

TEST(TruncateFilter, ReadsPastTheEndAreZeroes) {
  FakeDisk disk(1000);
  std::fill(disk.bytes().begin(), disk.bytes().end(), std::byte{'a'});
  auto f = truncate_filter_info.factory();
  ASSERT_TRUE(configure(*f, {{"round-up", "512"}}));
  auto c = open_over(*f, disk);
  std::vector<std::byte> buf(24, std::byte{0xff});
  ASSERT_TRUE((*c)->pread(buf, 990, 0));
  for (int i = 0; i < 24; ++i) EXPECT_EQ(buf[i], std::byte(i < 10 ? 'a' : 0)) << i;
  ASSERT_TRUE((*c)->pread(std::span(buf).first(10), 1010, 0));
  EXPECT_EQ(disk.calls(), (std::vector<FakeCall>{{"pread", 990, 10, 0}}));
}

TEST(TruncateFilter, WritesPastTheEndMustBeZero) {
  FakeDisk disk(1000);
  auto f = truncate_filter_info.factory();
  ASSERT_TRUE(configure(*f, {{"truncate", "1024"}}));
  auto c = open_over(*f, disk);
  std::vector<std::byte> zeroes(24);
  ASSERT_TRUE((*c)->pwrite(zeroes, 1000, 0));
  auto data = bytes_of("0123456789xyz");
  auto r = (*c)->pwrite(data, 990, kFua);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().errnum, ENOSPC);
  EXPECT_TRUE(disk.calls().empty()) << "a refused write must not touch the plugin";
  ASSERT_TRUE((*c)->pwrite(std::span(data).first(10), 990, kFua));
  EXPECT_EQ(std::memcmp(disk.bytes().data() + 990, "0123456789", 10), 0);
  data.resize(30);  // "0123456789xyz" then zeroes: allowed, only the first 10 bytes are written
  std::fill(data.begin() + 10, data.end(), std::byte{0});
  ASSERT_TRUE((*c)->pwrite(std::span(data).first(30), 990, 0));
  EXPECT_EQ(disk.calls().back(), (FakeCall{"pwrite", 990, 10, 0}));
}

TEST(TruncateFilter, TrimZeroCacheAreClippedToThePlugin) {
  FakeDisk disk(1000);
  auto f = truncate_filter_info.factory();
  ASSERT_TRUE(configure(*f, {{"truncate", "2000"}}));
  auto c = open_over(*f, disk);
  ASSERT_TRUE((*c)->trim(100, 950, 0));
  ASSERT_TRUE((*c)->zero(100, 950, kMayTrim | kFastZero));
  ASSERT_TRUE((*c)->cache(100, 950, 0));
  ASSERT_TRUE((*c)->trim(100, 1500, 0));
  ASSERT_TRUE((*c)->zero(100, 1500, 0));
  ASSERT_TRUE((*c)->cache(100, 1500, 0));
  std::vector<FakeCall> want = {
      {"trim", 950, 50, 0}, {"zero", 950, 50, kMayTrim | kFastZero}, {"cache", 950, 50, 0}};
  EXPECT_EQ(disk.calls(), want);
}

TEST(TruncateFilter, ExtentsPastTheEndAreHoles) {
  FakeDisk disk(1000);
  disk.allocate(0, 1000);
  auto f = truncate_filter_info.factory();
  ASSERT_TRUE(configure(*f, {{"truncate", "2000"}}));
  auto c = open_over(*f, disk);
  ExtentList e(900, 1200);
  ASSERT_TRUE((*c)->extents(300, 900, 0, e));
  ASSERT_EQ(e.extents().size(), 2u);
  EXPECT_EQ(e.extents()[0].offset, 900u);
  EXPECT_EQ(e.extents()[0].length, 100u);
  EXPECT_EQ(e.extents()[0].flags, 0u);
  EXPECT_EQ(e.extents()[1].offset, 1000u);
  EXPECT_EQ(e.extents()[1].length, 200u);
  EXPECT_EQ(e.extents()[1].flags, kExtentHole | kExtentZero);
  ExtentList past(1500, 1600);
  ASSERT_TRUE((*c)->extents(100, 1500, 0, past));
  ASSERT_EQ(past.extents().size(), 1u);
  EXPECT_EQ(past.extents()[0].flags, kExtentHole | kExtentZero);
}

TEST(TruncateFilter, RejectsBadParameters) {
  auto f = truncate_filter_info.factory();
  auto r = f->config("round-up", "3");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("round-up=3: must be a power of 2"), std::string::npos);
  EXPECT_FALSE(f->config("round-down", "0"));
  EXPECT_FALSE(f->config("truncate", "1x"));
  EXPECT_FALSE(*f->config("size", "1"));
}

}  // namespace
}  // namespace nbd::filters
