// SPDX-License-Identifier: BSD-3-Clause
// offset filter against the in-memory fake disk.
#include <gtest/gtest.h>

#include "fixtures/fake_disk.h"

namespace nbd::filters {
extern const FilterInfo offset_filter_info;
namespace {

using namespace nbd::testing;  // FakeDisk, FakeCall, configure, open_over, bytes_of

TEST(OffsetFilter, ShiftsReadsWritesAndSize) {
  FakeDisk disk(1000);
  auto f = offset_filter_info.factory();
  ASSERT_TRUE(configure(*f, {{"offset", "100"}, {"range", "200"}}));
  auto c = open_over(*f, disk);
  ASSERT_TRUE(c);
  EXPECT_EQ(*(*c)->get_size(), 200u);
  auto data = bytes_of("hello");
  ASSERT_TRUE((*c)->pwrite(data, 10, kFua));
  EXPECT_EQ(std::memcmp(disk.bytes().data() + 110, "hello", 5), 0);
  std::vector<std::byte> buf(5);
  ASSERT_TRUE((*c)->pread(buf, 10, 0));
  EXPECT_EQ(buf, data);
  ASSERT_TRUE((*c)->zero(5, 20, kMayTrim));
  ASSERT_TRUE((*c)->trim(5, 30, 0));
  ASSERT_TRUE((*c)->cache(5, 40, 0));
  std::vector<FakeCall> want = {{"pwrite", 110, 5, kFua},
                                {"pread", 110, 5, 0},
                                {"zero", 120, 5, kMayTrim},
                                {"trim", 130, 5, 0},
                                {"cache", 140, 5, 0}};
  EXPECT_EQ(disk.calls(), want);
}

TEST(OffsetFilter, WithoutRangeServesToTheEnd) {
  FakeDisk disk(1000);
  auto f = offset_filter_info.factory();
  ASSERT_TRUE(configure(*f, {{"offset", "1000"}}));
  auto c = open_over(*f, disk);
  ASSERT_TRUE(c);
  EXPECT_EQ(*(*c)->get_size(), 0u);
}

TEST(OffsetFilter, ExtentsAreShiftedIntoTheWindow) {
  FakeDisk disk(1000);
  disk.allocate(150, 50);  // data at 150..199, holes elsewhere
  auto f = offset_filter_info.factory();
  ASSERT_TRUE(configure(*f, {{"offset", "100"}, {"range", "200"}}));
  auto c = open_over(*f, disk);
  ExtentList e(0, 200);
  ASSERT_TRUE((*c)->extents(200, 0, 0, e));
  std::vector<Extent> got = e.extents();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].offset, 0u);
  EXPECT_EQ(got[0].length, 50u);
  EXPECT_EQ(got[0].flags, kExtentHole | kExtentZero);
  EXPECT_EQ(got[1].offset, 50u);
  EXPECT_EQ(got[1].length, 50u);
  EXPECT_EQ(got[1].flags, 0u);
  EXPECT_EQ(got[2].offset, 100u);
  EXPECT_EQ(got[2].length, 100u);  // clipped at the window's end, not the disk's
  EXPECT_EQ(disk.calls().back(), (FakeCall{"extents", 100, 200, 0}));
}

TEST(OffsetFilter, WindowPastTheEndIsAnError) {
  FakeDisk disk(1000);
  auto f = offset_filter_info.factory();
  ASSERT_TRUE(configure(*f, {{"offset", "900"}, {"range", "101"}}));
  // The core asks the size when it opens the layer, so the open itself fails.
  auto c = open_over(*f, disk);
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("offset+range (900+101)"), std::string::npos);

  auto g = offset_filter_info.factory();
  ASSERT_TRUE(configure(*g, {{"offset", "1001"}}));
  auto d = open_over(*g, disk);
  ASSERT_FALSE(d);
  EXPECT_NE(d.error().message.find("offset (1001) is larger"), std::string::npos);
}

TEST(OffsetFilter, RejectsBadValuesAndPassesOtherKeys) {
  auto f = offset_filter_info.factory();
  auto r = f->config("offset", "1Q");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("offset=1Q"), std::string::npos);
  auto k = f->config("size", "1M");
  ASSERT_TRUE(k);
  EXPECT_FALSE(*k);
}

}  // namespace
}  // namespace nbd::filters
