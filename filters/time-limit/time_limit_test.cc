// SPDX-License-Identifier: BSD-3-Clause
// time-limit filter: requests pass until the limit, then fail with ESHUTDOWN without reaching
// the plugin; the limit counts per connection, from its open.
#include <gtest/gtest.h>

#include <thread>

#include "fixtures/fake_disk.h"

namespace nbd::filters {
extern const FilterInfo time_limit_filter_info;
namespace {

using namespace nbd::testing;

TEST(TimeLimitFilter, RequestsFailAfterTheLimit) {
  FakeDisk disk(16);
  auto f = time_limit_filter_info.factory();
  ASSERT_TRUE(configure(*f, {{"time-limit", "200ms"}}));
  auto c = open_over(*f, disk);
  ASSERT_TRUE(c);
  auto data = bytes_of("in time");
  ASSERT_TRUE((*c)->pwrite(data, 0, 0));
  std::vector<std::byte> buf(7);
  ASSERT_TRUE((*c)->pread(buf, 0, 0));
  EXPECT_EQ(buf, data);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  disk.clear_calls();
  auto r = (*c)->pread(buf, 0, 0);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().errnum, ESHUTDOWN);
  EXPECT_FALSE((*c)->pwrite(data, 0, 0));
  EXPECT_FALSE((*c)->flush(0));
  EXPECT_TRUE(disk.calls().empty());
  // A new connection has its own clock.
  auto d = open_over(*f, disk);
  ASSERT_TRUE(d);
  EXPECT_TRUE((*d)->pread(buf, 0, 0));
}

TEST(TimeLimitFilter, DefaultIsSixtySeconds) {
  FakeDisk disk(16);
  auto f = time_limit_filter_info.factory();
  ASSERT_TRUE(configure(*f, {}));
  auto c = open_over(*f, disk);
  std::vector<std::byte> buf(1);
  EXPECT_TRUE((*c)->pread(buf, 0, 0));
}

TEST(TimeLimitFilter, RejectsBadValues) {
  for (const char* bad : {"x", "-1", "", "10q"}) {
    auto f = time_limit_filter_info.factory();
    auto r = f->config("time-limit", bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.error().message.find("time-limit="), std::string::npos);
  }
  EXPECT_FALSE(*time_limit_filter_info.factory()->config("size", "1"));
}

}  // namespace
}  // namespace nbd::filters
