// SPDX-License-Identifier: BSD-3-Clause
// delay filter against the in-memory fake disk. Only lower bounds on time are checked (a sleep
// never returns early); data and errors are what matter.
#include <gtest/gtest.h>

#include <chrono>

#include "fixtures/fake_disk.h"

namespace nbd::filters {
extern const FilterInfo delay_filter_info;
namespace {

using namespace nbd::testing;  // FakeDisk, FakeCall, configure, open_over, bytes_of

TEST(DelayFilter, DataPassesThroughUnchanged) {
  FakeDisk disk(100);
  auto f = delay_filter_info.factory();
  ASSERT_TRUE(configure(*f, {{"rdelay", "1ms"},
                             {"wdelay", "1ms"},
                             {"delay-extents", "0.001"},
                             {"delay-cache", "1ms"},
                             {"delay-open", "1ms"},
                             {"delay-close", "1ms"}}));
  auto c = open_over(*f, disk);
  ASSERT_TRUE(c);
  auto data = bytes_of("delayed");
  ASSERT_TRUE((*c)->pwrite(data, 3, kFua));
  std::vector<std::byte> buf(7);
  ASSERT_TRUE((*c)->pread(buf, 3, 0));
  EXPECT_EQ(buf, data);
  ASSERT_TRUE((*c)->zero(2, 3, kMayTrim));
  ASSERT_TRUE((*c)->trim(2, 5, 0));
  ASSERT_TRUE((*c)->cache(2, 5, 0));
  ExtentList e(0, 100);
  ASSERT_TRUE((*c)->extents(100, 0, 0, e));
  EXPECT_EQ(disk.calls().size(), 6u);
  ASSERT_TRUE((*c)->pread(buf, 3, 0));
  EXPECT_EQ(std::string(reinterpret_cast<char*>(buf.data()), 7), std::string("\0\0\0\0yed", 7));
  c->reset();
  EXPECT_EQ(disk.closes(), 1);
}

TEST(DelayFilter, ReadsWaitAtLeastTheDelay) {
  FakeDisk disk(100);
  auto f = delay_filter_info.factory();
  ASSERT_TRUE(configure(*f, {{"delay-read", "30ms"}}));
  auto c = open_over(*f, disk);
  std::vector<std::byte> buf(1);
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE((*c)->pread(buf, 0, 0));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(30));
}

TEST(DelayFilter, FastZeroFailsAtOnceWhenNotDelayed) {
  FakeDisk disk(100);
  auto f = delay_filter_info.factory();
  ASSERT_TRUE(configure(*f, {{"delay-zero", "10s"}, {"delay-fast-zero", "false"}}));
  auto c = open_over(*f, disk);
  auto r = (*c)->zero(10, 0, kFastZero);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().errnum, ENOTSUP);
  EXPECT_TRUE(disk.calls().empty());
}

TEST(DelayFilter, FastZeroPassesWithoutZeroDelay) {
  FakeDisk disk(100);
  auto f = delay_filter_info.factory();
  ASSERT_TRUE(configure(*f, {{"delay-fast-zero", "false"}}));
  auto c = open_over(*f, disk);
  ASSERT_TRUE((*c)->zero(10, 0, kFastZero));
  EXPECT_EQ(disk.calls(), (std::vector<FakeCall>{{"zero", 0, 10, kFastZero}}));
}

TEST(DelayFilter, RejectsBadValuesAndLeavesOtherKeys) {
  auto f = delay_filter_info.factory();
  auto r = f->config("rdelay", "x");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("rdelay=x"), std::string::npos);
  EXPECT_FALSE(f->config("delay-close", "-1"));
  EXPECT_FALSE(f->config("delay-fast-zero", "maybe"));
  EXPECT_FALSE(*f->config("delay-flush", "1"));
  EXPECT_FALSE(*f->config("size", "1"));
}

}  // namespace
}  // namespace nbd::filters
