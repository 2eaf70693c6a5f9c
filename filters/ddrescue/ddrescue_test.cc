// SPDX-License-Identifier: BSD-3-Clause
// ddrescue filter: the mapfile parser (a real ddrescue map, statuses, errors) and reads over
// the fake disk: inside finished blocks they pass, touching anything else they fail with EIO.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "fixtures/fake_disk.h"

namespace nbd::filters {
extern const FilterInfo ddrescue_filter_info;
Result<std::vector<std::pair<uint64_t, uint64_t>>> parse_mapfile_for_test(const std::string& text);
namespace {

using namespace nbd::testing;
using Spans = std::vector<std::pair<uint64_t, uint64_t>>;

// As GNU ddrescuelog 1.27 writes it (-b 512 -s 4096 --create-mapfile=+- from blocks 0 1 2 5).
constexpr const char* kMap =
    "# Mapfile. Created by GNU ddrescuelog version 1.27\n"
    "# Command line: ddrescuelog -b 512 -s 4096 --create-mapfile=+- map2.txt\n"
    "# current_pos  current_status  current_pass\n"
    "0x00000000     ?               1\n"
    "#      pos        size  status\n"
    "0x00000000  0x00000600  +\n"
    "0x00000600  0x00000400  -\n"
    "0x00000A00  0x00000200  +\n"
    "0x00000C00  0x00000400  -\n";

TEST(DdrescueParse, RealMapfile) {
  auto r = parse_mapfile_for_test(kMap);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(*r, (Spans{{0, 0x600}, {0xa00, 0xc00}}));
}

TEST(DdrescueParse, OnlyFinishedBlocksCountAndTouchingOnesMerge) {
  auto r = parse_mapfile_for_test(
      "0x0 + \n0 100 +\n100 50 +\n150 10 ?\n160 10 *\n170 10 /\n180 10 -\n190 0 +\n190 10 +\n");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(*r, (Spans{{0, 150}, {190, 200}}));
  EXPECT_TRUE(parse_mapfile_for_test("0 F\n"));  // no blocks: nothing is readable
  EXPECT_TRUE(parse_mapfile_for_test("0 G 3\n")->empty());
}

TEST(DdrescueParse, ClearErrors) {
  const struct {
    std::string text, want;
  } table[] = {
      {"", "not a ddrescue mapfile"},
      {"# only comments\n", "not a ddrescue mapfile"},
      {"0x0 0x1000 +\n", "map:1: expected the current position line"},
      {"0x0 X 1\n", "map:1: expected the current position line"},
      {"zz + 1\n", "map:1: current_pos=zz"},
      {"0 + x\n", "current_pass=x"},
      {"0 + 1\ngarbage\n", "map:2: expected a block line"},
      {"0 + 1\n0 1536\n", "map:2: expected a block line"},
      {"0 + 1\n0 1536 X\n", "map:2: expected a block line"},
      {"0 + 1\n0 1536 + extra\n", "map:2: expected a block line"},
      {"0 + 1\n0 1k +\n", "size=1k: could not parse number"},
      {"0 + 1\n0 -1 +\n", "size=-1: number cannot be negative"},
      {"0 + 1\n0 0x100000000000000000 +\n", "size=0x100000000000000000: number is too large"},
      {"0 + 1\n0xffffffffffffffff 2 +\n", "pos + size is too large"},
      {"0 + 1\n0x600 0x200 +\n0 0x700 +\n", "map:3: block at 0 overlaps or comes before"},
  };
  for (const auto& t : table) {
    auto r = parse_mapfile_for_test(t.text);
    ASSERT_FALSE(r) << t.text;
    EXPECT_NE(r.error().message.find(t.want), std::string::npos) << t.text << " -> " << r.error().message;
  }
}

class DdrescueServe : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = ::testing::TempDir() + "/ddrescue_test.map";
    std::ofstream(path_) << kMap;
  }
  void TearDown() override { std::remove(path_.c_str()); }
  std::unique_ptr<Connection> open(FakeDisk& disk) {
    filter_ = ddrescue_filter_info.factory();
    EXPECT_TRUE(configure(*filter_, {{"ddrescue-mapfile", path_}}));
    return std::move(*open_over(*filter_, disk));
  }
  std::string path_;
  std::unique_ptr<Filter> filter_;
};

// The same probes give the same answers from Debian's nbdkit 1.32 over the same map.
TEST_F(DdrescueServe, ReadsOnlyInsideFinishedBlocks) {
  FakeDisk disk(4096);
  for (size_t i = 0; i < 4096; ++i) disk.bytes()[i] = std::byte(i);
  auto c = open(disk);
  std::string got;
  for (auto [off, n] : std::vector<std::pair<uint64_t, size_t>>{{0, 512},
                                                                {0, 1536},
                                                                {1024, 1024},
                                                                {1535, 1},
                                                                {1536, 1},
                                                                {2048, 512},
                                                                {2559, 2},
                                                                {2560, 512},
                                                                {3072, 1024},
                                                                {4095, 1},
                                                                {0, 4096}}) {
    std::vector<std::byte> b(n);
    auto r = c->pread(b, off, 0);
    if (r) {
      got += 'r';
      EXPECT_EQ(b[0], std::byte(off));
    } else {
      EXPECT_EQ(r.error().errnum, EIO);
      got += 'E';
    }
  }
  EXPECT_EQ(got, "rrErEEErEEE");
}

TEST_F(DdrescueServe, ReadOnlyWithoutCache) {
  FakeDisk disk(4096);
  auto c = open(disk);
  EXPECT_FALSE(*c->can_write());
  EXPECT_EQ(*c->can_cache(), CacheMode::None);
  EXPECT_FALSE(c->pwrite(bytes_of("x"), 0, 0));
  for (auto& call : disk.calls()) EXPECT_NE(call.op, "pwrite");
}

TEST(DdrescueConfig, MapfileIsRequiredAndMustExist) {
  auto f = ddrescue_filter_info.factory();
  auto r = f->config_complete();
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("ddrescue-mapfile=FILE"), std::string::npos);
  ASSERT_TRUE(*f->config("ddrescue-mapfile", "/nonexistent/map"));
  r = f->config_complete();
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("/nonexistent/map: No such file"), std::string::npos) << r.error().message;
  EXPECT_FALSE(*f->config("file", "x")) << "keys the filter does not own pass on";
}

}  // namespace
}  // namespace nbd::filters
