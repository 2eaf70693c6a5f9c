// SPDX-License-Identifier: BSD-3-Clause
// noextents filter against the in-memory fake disk.
#include <gtest/gtest.h>

#include "fixtures/fake_disk.h"

namespace nbd::filters {
extern const FilterInfo noextents_filter_info;
namespace {

using namespace nbd::testing;  // FakeDisk, FakeCall, configure, open_over, bytes_of

TEST(NoextentsFilter, HidesExtentsAndReportsAllData) {
  FakeDisk disk(1000);  // all holes below
  auto f = noextents_filter_info.factory();
  ASSERT_TRUE(configure(*f, {}));
  auto c = open_over(*f, disk);
  ASSERT_TRUE(c);
  EXPECT_FALSE(*(*c)->can_extents());
  ExtentList e(100, 300);
  ASSERT_TRUE((*c)->extents(200, 100, 0, e));
  ASSERT_EQ(e.extents().size(), 1u);
  EXPECT_EQ(e.extents()[0].offset, 100u);
  EXPECT_EQ(e.extents()[0].length, 200u);
  EXPECT_EQ(e.extents()[0].flags, 0u);
  EXPECT_TRUE(disk.calls().empty()) << "the plugin's extents must not be asked";
}

TEST(NoextentsFilter, ForwardsEverythingElse) {
  FakeDisk disk(1000);
  auto f = noextents_filter_info.factory();
  auto c = open_over(*f, disk);
  EXPECT_TRUE(*(*c)->can_write());
  EXPECT_EQ(*(*c)->can_zero(), ZeroMode::Native);
  EXPECT_EQ(*(*c)->get_size(), 1000u);
  std::vector<std::byte> buf(10, std::byte{7});
  ASSERT_TRUE((*c)->pwrite(buf, 5, 0));
  EXPECT_EQ(disk.bytes()[5], std::byte{7});
  EXPECT_FALSE(*f->config("size", "1M")) << "keys pass on to the plugin";
}

}  // namespace
}  // namespace nbd::filters
