// SPDX-License-Identifier: BSD-3-Clause
// checkwrite filter against the in-memory fake disk: matching writes succeed without reaching
// the plugin, mismatches are EIO, zero/trim check zeroes (trusting zero extents), fast zero.
#include <gtest/gtest.h>

#include "fixtures/fake_disk.h"

namespace nbd::filters {
extern const FilterInfo checkwrite_filter_info;
namespace {

using namespace nbd::testing;

Result<std::unique_ptr<Connection>> open_cw(FakeDisk& disk, bool readonly = false) {
  static std::vector<std::unique_ptr<Filter>> keep;  // the filter outlives its connections
  keep.push_back(checkwrite_filter_info.factory());
  NBD_TRY(configure(*keep.back(), {}));
  return open_over(*keep.back(), disk, OpenParams{.readonly = readonly});
}

bool has_op(FakeDisk& disk, const std::string& op) {
  auto calls = disk.calls();
  return std::any_of(calls.begin(), calls.end(), [&](const FakeCall& c) { return c.op == op; });
}

TEST(CheckwriteFilter, AdvertisesAWritableExportOverAReadOnlyPlugin) {
  FakeDisk disk(1000);
  disk.caps().write = false;
  disk.caps().trim = disk.caps().zero = disk.caps().flush = false;
  disk.caps().fua = FuaMode::None;
  auto c = open_cw(disk);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_TRUE(*(*c)->can_write());
  EXPECT_TRUE(*(*c)->can_flush());
  EXPECT_TRUE(*(*c)->can_trim());
  EXPECT_EQ(*(*c)->can_zero(), ZeroMode::Native);
  EXPECT_TRUE(*(*c)->can_fast_zero());
  EXPECT_EQ(*(*c)->can_fua(), FuaMode::Native);
  EXPECT_TRUE(*(*c)->can_multi_conn());
}

TEST(CheckwriteFilter, MatchingWritesSucceedAndNothingIsWritten) {
  FakeDisk disk(1 << 20);
  for (size_t i = 0; i < disk.bytes().size(); ++i) disk.bytes()[i] = std::byte(i * 7);
  auto c = open_cw(disk);
  std::vector<std::byte> same(disk.bytes().begin() + 1000, disk.bytes().begin() + 1000 + 600000);
  ASSERT_TRUE((*c)->pwrite(same, 1000, kFua));  // larger than one chunk
  ASSERT_TRUE((*c)->flush(0));
  EXPECT_FALSE(has_op(disk, "pwrite"));
  EXPECT_FALSE(has_op(disk, "flush"));
  same[599999] ^= std::byte{1};  // the very last byte of the last chunk
  auto r = (*c)->pwrite(same, 1000, 0);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().errnum, EIO);
  EXPECT_NE(r.error().message.find("does not match"), std::string::npos);
  EXPECT_FALSE(has_op(disk, "pwrite"));
  EXPECT_EQ(disk.bytes()[600999], std::byte((600999 * 7) & 0xff));
}

TEST(CheckwriteFilter, ZeroAndTrimCheckZeroes) {
  FakeDisk disk(100000);
  disk.allocate(0, 50000);  // data extents, but zero bytes: these must be read
  disk.bytes()[60000] = std::byte{9};
  disk.allocate(60000, 1);
  auto c = open_cw(disk);
  disk.clear_calls();
  ASSERT_TRUE((*c)->zero(100, 200, 0));
  EXPECT_TRUE(has_op(disk, "pread"));
  disk.clear_calls();
  ASSERT_TRUE((*c)->zero(9000, 51000, kMayTrim));  // a hole: trusted without reading
  EXPECT_FALSE(has_op(disk, "pread"));
  ASSERT_TRUE((*c)->trim(60000, 0, 0));
  for (auto r : {(*c)->zero(20000, 50000, 0), (*c)->trim(1, 60000, 0)}) {
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().errnum, EIO);
  }
  EXPECT_FALSE(has_op(disk, "zero"));
  EXPECT_FALSE(has_op(disk, "trim"));
}

TEST(CheckwriteFilter, FastZeroOnlyWhereExtentsSayZero) {
  FakeDisk disk(10000);
  disk.allocate(0, 100);
  auto c = open_cw(disk);
  ASSERT_TRUE((*c)->zero(5000, 1000, kFastZero));
  auto r = (*c)->zero(200, 0, kFastZero);  // zero bytes, but not known to be zero without reading
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().errnum, ENOTSUP);
}

TEST(CheckwriteFilter, WithoutExtentsEverythingIsRead) {
  FakeDisk disk(10000);
  disk.caps().extents = false;
  disk.bytes()[9999] = std::byte{1};
  auto c = open_cw(disk);
  ASSERT_TRUE((*c)->zero(9999, 0, 0));
  EXPECT_FALSE((*c)->zero(1, 9999, 0));
  EXPECT_FALSE((*c)->zero(1, 9999, kFastZero));
}

TEST(CheckwriteFilter, ReadErrorsPassUp) {
  FakeDisk disk(1000);
  auto c = open_cw(disk);
  disk.fail_next("pread", ENOMEM);
  std::vector<std::byte> z(10);
  auto r = (*c)->pwrite(z, 0, 0);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().errnum, ENOMEM);
  EXPECT_FALSE(*checkwrite_filter_info.factory()->config("size", "1")) << "keys pass on to the plugin";
}

}  // namespace
}  // namespace nbd::filters
