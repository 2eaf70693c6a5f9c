// SPDX-License-Identifier: BSD-3-Clause
// fua filter against the in-memory fake disk: what each mode advertises and what it sends down.
#include <gtest/gtest.h>

#include "fixtures/fake_disk.h"

namespace nbd::filters {
extern const FilterInfo fua_filter_info;
namespace {

using namespace nbd::testing;  // FakeDisk, FakeCall, configure, open_over, bytes_of

Result<std::unique_ptr<Connection>> open_mode(FakeDisk& disk, const std::string& mode,
                                              bool readonly = false) {
  static std::vector<std::unique_ptr<Filter>> keep;  // the filter outlives its connections
  keep.push_back(fua_filter_info.factory());
  if (!mode.empty()) NBD_TRY(configure(*keep.back(), {{"fuamode", mode}}));
  return open_over(*keep.back(), disk, OpenParams{.readonly = readonly});
}

// The table Debian's nbdkit 1.32 prints (nbdinfo can_fua/can_flush over memory).
TEST(FuaFilter, AdvertisesLikeUpstream) {
  const struct {
    std::string mode;
    FuaMode fua;
  } table[] = {{"", FuaMode::None},         {"none", FuaMode::None},    {"emulate", FuaMode::Emulate},
               {"native", FuaMode::Native}, {"force", FuaMode::Native}, {"pass", FuaMode::Native},
               {"discard", FuaMode::Native}};
  for (const auto& t : table) {
    FakeDisk disk(100);
    auto c = open_mode(disk, t.mode);
    ASSERT_TRUE(c) << t.mode;
    EXPECT_EQ(*(*c)->can_fua(), t.fua) << t.mode;
    EXPECT_TRUE(*(*c)->can_flush()) << t.mode;
  }
}

TEST(FuaFilter, EmulateTurnsFuaIntoWriteAndFlush) {
  FakeDisk disk(100);
  auto c = open_mode(disk, "emulate");
  ASSERT_TRUE((*c)->pwrite(bytes_of("abcd"), 8, kFua));
  EXPECT_EQ(disk.calls(), (std::vector<FakeCall>{{"pwrite", 8, 4, 0}, {"flush", 0, 0, 0}}));
  EXPECT_EQ(disk.bytes()[9], std::byte{'b'});
}

TEST(FuaFilter, NativePassesFuaDown) {
  FakeDisk disk(100);
  auto c = open_mode(disk, "native");
  ASSERT_TRUE((*c)->zero(10, 0, kFua));
  ASSERT_TRUE((*c)->flush(0));
  EXPECT_EQ(disk.calls(), (std::vector<FakeCall>{{"zero", 0, 10, kFua}, {"flush", 0, 0, 0}}));
}

TEST(FuaFilter, ForceAddsFuaAndSkipsFlush) {
  FakeDisk disk(100);
  auto c = open_mode(disk, "force");
  ASSERT_TRUE((*c)->pwrite(bytes_of("xy"), 0, 0));
  ASSERT_TRUE((*c)->trim(4, 10, 0));
  ASSERT_TRUE((*c)->flush(0));
  EXPECT_EQ(disk.calls(), (std::vector<FakeCall>{{"pwrite", 0, 2, kFua}, {"trim", 10, 4, kFua}}));
}

TEST(FuaFilter, DiscardDropsFuaAndFlush) {
  FakeDisk disk(100);
  auto c = open_mode(disk, "discard");
  ASSERT_TRUE((*c)->pwrite(bytes_of("xy"), 0, kFua));
  ASSERT_TRUE((*c)->flush(0));
  EXPECT_EQ(disk.calls(), (std::vector<FakeCall>{{"pwrite", 0, 2, 0}}));
  EXPECT_EQ(disk.bytes()[1], std::byte{'y'});
}

TEST(FuaFilter, DiscardOffersFlushEvenWhenThePluginHasNone) {
  FakeDisk disk(100);
  disk.caps().flush = false;
  disk.caps().fua = FuaMode::None;
  auto c = open_mode(disk, "discard");
  ASSERT_TRUE(c);
  EXPECT_TRUE(*(*c)->can_flush());
  ASSERT_TRUE((*c)->flush(0));
  EXPECT_TRUE(disk.calls().empty());
}

TEST(FuaFilter, RefusesModesThePluginCannotBack) {
  FakeDisk disk(100);
  disk.caps().flush = false;
  disk.caps().fua = FuaMode::None;
  auto e = open_mode(disk, "emulate");
  ASSERT_FALSE(e);
  EXPECT_NE(e.error().message.find("fuamode=emulate requires the plugin to support flush"),
            std::string::npos);
  for (std::string m : {"native", "force"}) {
    auto c = open_mode(disk, m);
    ASSERT_FALSE(c) << m;
    EXPECT_NE(c.error().message.find("fuamode=" + m + " requires the plugin to support FUA"),
              std::string::npos);
  }
  // Read-only connections never write, so nothing is required of the plugin (as upstream's -r).
  EXPECT_TRUE(open_mode(disk, "emulate", true));
  EXPECT_TRUE(open_mode(disk, "pass"));
}

TEST(FuaFilter, RejectsAnUnknownMode) {
  auto f = fua_filter_info.factory();
  auto r = f->config("fuamode", "sometimes");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("fuamode=sometimes"), std::string::npos);
  EXPECT_FALSE(*f->config("fua", "none")) << "keys the filter does not own pass on";
}

}  // namespace
}  // namespace nbd::filters
