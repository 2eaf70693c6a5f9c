// SPDX-License-Identifier: BSD-3-Clause
// spinning filter: the head model's numbers exactly (no sleeping), then the filter over the
// in-memory fake disk with lower bounds on time only (a sleep never ends early).
#include <gtest/gtest.h>

#include <chrono>

#include "fixtures/fake_disk.h"
#include "heads.h"

namespace nbd::filters {
extern const FilterInfo spinning_filter_info;
namespace {

using namespace nbd::testing;  // FakeDisk, configure, open_over, bytes_of
using spinning::Heads;
using spinning::kTrackSize;
using spinning::SeekCurve;

TEST(SpinningModel, CurveMeetsItsThreePoints) {
  SeekCurve c(0.01, 0.2, 0.5);
  EXPECT_NEAR(c.seconds(0), 0.01, 1e-12);
  EXPECT_NEAR(c.seconds(0.5), 0.2, 1e-12);
  EXPECT_NEAR(c.seconds(1), 0.5, 1e-12);
  EXPECT_GT(c.seconds(0.75), 0.2);
  EXPECT_LT(c.seconds(0.75), 0.5);
  EXPECT_TRUE(c.stable(0.01, 0.2, 0.5));
  SeekCurve linear(0, 0.5, 1);
  EXPECT_NEAR(linear.seconds(0.25), 0.25, 1e-12);
  SeekCurve absurd(1e308, 0, 1e308);
  EXPECT_FALSE(absurd.stable(1e308, 0, 1e308));
}

TEST(SpinningModel, DiskIsSplitBetweenHeads) {
  Heads four(1003, 4, false);
  ASSERT_EQ(four.count(), 4u);
  const uint64_t starts[] = {0, 250, 500, 750}, ends[] = {250, 500, 750, 1003};
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(four.start(i), starts[i]);
    EXPECT_EQ(four.end(i), ends[i]);
    EXPECT_EQ(four.position(i), starts[i]) << "heads start at the start of their range";
  }
  EXPECT_EQ(Heads(2, 4, false).count(), 2u) << "a tiny disk gets one head per byte";
  EXPECT_EQ(Heads(0, 4, false).count(), 0u);
}

TEST(SpinningModel, OneArmMovesAllHeadsTogether) {
  Heads h(1000, 4, false);
  SeekCurve c(0.01, 0.2, 0.5);
  EXPECT_EQ(&h.arm_for(0), &h.arm_for(999)) << "one arm, one lock";
  EXPECT_EQ(h.move_to(300, c), 0) << "50 bytes is within a track";
  const uint64_t want[] = {50, 300, 550, 800};
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(h.position(i), want[i]);
}

TEST(SpinningModel, SeparateHeadsMoveAlone) {
  Heads h(1000, 4, true);
  SeekCurve c(0.01, 0.2, 0.5);
  EXPECT_NE(&h.arm_for(0), &h.arm_for(300));
  EXPECT_EQ(&h.arm_for(250), &h.arm_for(499));
  EXPECT_EQ(h.move_to(300, c), 0);
  const uint64_t want[] = {0, 300, 500, 750};
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(h.position(i), want[i]);
}

TEST(SpinningModel, SeekTimeGrowsWithDistance) {
  const uint64_t size = 64 * kTrackSize;
  SeekCurve c(0.01, 0.2, 0.5);
  Heads h(size, 1, false);
  EXPECT_EQ(h.move_to(kTrackSize, c), 0) << "exactly one track is free";
  EXPECT_NEAR(h.move_to(size - 1, c), c.seconds(double(size - 1 - kTrackSize) / double(size)), 1e-12);
  EXPECT_NEAR(h.move_to(size / 2 - 1, c), 0.2, 1e-6) << "back half the disk";
  EXPECT_EQ(h.move_to(size / 2 - 1, c), 0) << "no move, no delay";
  // With two heads on one arm, a stroke is a fraction of one head's range.
  Heads two(size, 2, false);
  EXPECT_NEAR(two.move_to(size / 4, c), 0.2, 1e-6);
  EXPECT_EQ(two.move_to(size / 2 + size / 4, c), 0) << "the other head is already there";
}

TEST(SpinningFilter, AdvertisesRotationalAndNoMultiConn) {
  FakeCaps caps;
  caps.rotational = false;
  caps.multi_conn = true;
  FakeDisk disk(1 << 20, caps);
  auto f = spinning_filter_info.factory();
  ASSERT_TRUE(configure(*f, {}));
  auto c = open_over(*f, disk);
  ASSERT_TRUE(c);
  EXPECT_TRUE(*(*c)->is_rotational());
  EXPECT_FALSE(*(*c)->can_multi_conn());
}

TEST(SpinningFilter, FarReadsWaitForTheSeekAndReturnTheBytes) {
  const uint64_t size = 16 << 20;
  FakeDisk disk(size);
  auto f = spinning_filter_info.factory();
  ASSERT_TRUE(configure(*f, {{"min-seek-time", "0"}, {"half-seek-time", "0.1"}, {"max-seek-time", "0.3"}}));
  auto c = open_over(*f, disk);
  ASSERT_TRUE(c);
  auto data = bytes_of("far end");
  std::copy(data.begin(), data.end(), disk.bytes().end() - 7);
  std::vector<std::byte> buf(7);
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE((*c)->pread(buf, size - 7, 0));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(290));
  EXPECT_EQ(buf, data);
  t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE((*c)->zero(size / 2, 0, 0));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(290)) << "zero seeks too";
  ASSERT_TRUE((*c)->pread(buf, size - 7, 0));
  EXPECT_EQ(buf, data);
}

TEST(SpinningFilter, RejectsBadValuesAndLeavesOtherKeys) {
  auto f = spinning_filter_info.factory();
  for (auto [k, v] : {std::pair{"heads", "0"},
                      {"heads", "65"},
                      {"heads", "x"},
                      {"separate-heads", "maybe"},
                      {"min-seek-time", "-1"},
                      {"half-seek-time", "fast"},
                      {"max-seek-time", "1s"},
                      {"max-seek-time", ""},
                      {"max-seek-time", "inf"}}) {
    auto r = f->config(k, v);
    ASSERT_FALSE(r) << k << "=" << v;
    EXPECT_NE(r.error().message.find(k), std::string::npos) << r.error().message;
  }
  EXPECT_TRUE(*f->config("heads", "64"));
  EXPECT_TRUE(*f->config("max-seek-time", "1e-3"));
  EXPECT_FALSE(*f->config("seek-time", "1"));
  auto g = spinning_filter_info.factory();
  ASSERT_TRUE(*g->config("min-seek-time", "1e308"));
  ASSERT_TRUE(*g->config("max-seek-time", "1e308"));
  ASSERT_TRUE(*g->config("half-seek-time", "0"));
  EXPECT_FALSE(g->config_complete()) << "an unstable curve is refused";
}

}  // namespace
}  // namespace nbd::filters
