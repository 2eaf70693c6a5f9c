// SPDX-License-Identifier: BSD-3-Clause
// limit filter: the N+1th client is refused in preconnect and open; a close makes room.
#include <gtest/gtest.h>

#include "fixtures/fake_disk.h"

namespace nbd::filters {
extern const FilterInfo limit_filter_info;
namespace {

using namespace nbd::testing;

TEST(LimitFilter, DefaultIsOneClient) {
  FakeDisk disk(16);
  auto f = limit_filter_info.factory();
  ASSERT_TRUE(configure(*f, {}));
  EXPECT_TRUE(f->preconnect(Peer{}, false));
  auto a = open_over(*f, disk);
  ASSERT_TRUE(a);
  auto r = f->preconnect(Peer{}, false);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("too many clients"), std::string::npos);
  EXPECT_FALSE(open_over(*f, disk));
  EXPECT_EQ(disk.opens(), 1);  // the refused open cost no plugin open
  auto data = bytes_of("kept");
  ASSERT_TRUE((*a)->pwrite(data, 0, 0));  // the first client keeps working
  std::vector<std::byte> buf(4);
  ASSERT_TRUE((*a)->pread(buf, 0, 0));
  EXPECT_EQ(buf, data);
  a->reset();
  EXPECT_TRUE(f->preconnect(Peer{}, false));
  EXPECT_TRUE(open_over(*f, disk));
}

TEST(LimitFilter, LimitNAndZeroMeansUnlimited) {
  FakeDisk disk(16);
  auto f = limit_filter_info.factory();
  ASSERT_TRUE(configure(*f, {{"limit", "3"}}));
  std::vector<std::unique_ptr<Connection>> held;
  for (int i = 0; i < 3; ++i) {
    auto c = open_over(*f, disk);
    ASSERT_TRUE(c);
    held.push_back(std::move(*c));
  }
  EXPECT_FALSE(f->preconnect(Peer{}, false));
  held.pop_back();
  EXPECT_TRUE(f->preconnect(Peer{}, false));

  held.clear();  // connections close before their filter, as in the server

  auto u = limit_filter_info.factory();
  ASSERT_TRUE(configure(*u, {{"limit", "0"}}));
  std::vector<std::unique_ptr<Connection>> many;
  for (int i = 0; i < 50; ++i) {
    auto c = open_over(*u, disk);
    ASSERT_TRUE(c);
    many.push_back(std::move(*c));
  }
  EXPECT_TRUE(u->preconnect(Peer{}, false));
  many.clear();
}

TEST(LimitFilter, FailedOpenBelowDoesNotCount) {
  auto f = limit_filter_info.factory();
  ASSERT_TRUE(configure(*f, {}));
  NextOpen failing = [](const OpenParams&) -> Result<std::unique_ptr<Connection>> {
    return make_error(EIO, "plugin open failed");
  };
  EXPECT_FALSE(f->open({}, failing));
  EXPECT_TRUE(f->preconnect(Peer{}, false));
}

TEST(LimitFilter, RejectsBadValues) {
  for (const char* bad : {"-1", "x", "", "1.5"}) {
    auto f = limit_filter_info.factory();
    auto r = f->config("limit", bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.error().message.find("limit="), std::string::npos);
  }
  EXPECT_FALSE(*limit_filter_info.factory()->config("size", "1"));
}

}  // namespace
}  // namespace nbd::filters
