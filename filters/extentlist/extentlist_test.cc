// SPDX-License-Identifier: BSD-3-Clause
// extentlist filter: the file parser (formats, order, overlap and bad-value errors) and the
// extents served over the fake disk (gaps as holes, clipping, req_one), data untouched.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "fixtures/fake_disk.h"

namespace nbd::filters {
extern const FilterInfo extentlist_filter_info;
Result<std::vector<Extent>> parse_extent_list_for_test(const std::string& text);
namespace {

using namespace nbd::testing;
using Triple = std::tuple<uint64_t, uint64_t, uint64_t>;

std::vector<Triple> triples(const std::vector<Extent>& es) {
  std::vector<Triple> r;
  for (auto& e : es) r.emplace_back(e.offset, e.length, e.flags);
  return r;
}

TEST(ExtentlistParse, FormsAsUpstream) {
  auto r = parse_extent_list_for_test(
      "1M 1M 3\n5M 1M zero\n0 512\n\n# a comment\n  7M\t1k  hole,zero\n8M 1 hole,\n9M 0\n");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(
      triples(*r),
      (std::vector<Triple>{
          {0, 512, 0}, {1 << 20, 1 << 20, 3}, {5 << 20, 1 << 20, 2}, {7 << 20, 1024, 3}, {8 << 20, 1, 1}}));
}

TEST(ExtentlistParse, ClearErrors) {
  const struct {
    std::string text, want;
  } table[] = {
      {"0 1M\n512K 1M\n", "list: the extents on lines 1 and 2 overlap"},
      {"2M 1M\n0 1M\n2600000 1\n", "the extents on lines 1 and 3 overlap"},
      {"x 1M\n", "list:1: offset=x: could not parse size"},
      {"0 1M\n0x100000 1M\n", "list:2: offset=0x100000: unknown size suffix"},
      {"0 -1\n", "length=-1: size cannot be negative"},
      {"0\n", "list:1: expected 'OFFSET LENGTH [TYPE]'"},
      {"0 1M bogus\n", "type 'bogus'"},
      {"0 1M HOLE\n", "type 'HOLE'"},
      {"0 1M ,\n", "type ','"},
      {"0 1M 7\n", "type 7: only 1 (hole) and 2 (zero) exist"},
      {"0 1M 0 extra\n", "unexpected 'extra'"},
      {"8E 1\n", "offset=8E"},
      {"0 1 hole,,zero\n", "type 'hole,,zero'"},
  };
  for (const auto& t : table) {
    auto r = parse_extent_list_for_test(t.text);
    ASSERT_FALSE(r) << t.text;
    EXPECT_NE(r.error().message.find(t.want), std::string::npos) << t.text << " -> " << r.error().message;
  }
}

class ExtentlistServe : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = ::testing::TempDir() + "/extentlist_test.txt";
    std::ofstream(path_) << "100 50 hole\n200 100\n300 100 zero\n";
  }
  void TearDown() override { std::remove(path_.c_str()); }
  std::unique_ptr<Connection> open(FakeDisk& disk) {
    filter_ = extentlist_filter_info.factory();
    EXPECT_TRUE(configure(*filter_, {{"extentlist", path_}}));
    return std::move(*open_over(*filter_, disk));
  }
  std::string path_;
  std::unique_ptr<Filter> filter_;
};

TEST_F(ExtentlistServe, ServesTheListWithGapsAsHoles) {
  FakeDisk disk(1000);
  disk.caps().extents = false;  // the plugin has none of its own
  auto c = open(disk);
  EXPECT_TRUE(*c->can_extents());
  ExtentList e(0, 1000);
  ASSERT_TRUE(c->extents(1000, 0, 0, e));
  EXPECT_EQ(triples(e.extents()),
            (std::vector<Triple>{
                {0, 100, 3}, {100, 50, 1}, {150, 50, 3}, {200, 100, 0}, {300, 100, 2}, {400, 600, 3}}));
  ExtentList mid(120, 250);
  ASSERT_TRUE(c->extents(130, 120, 0, mid));
  EXPECT_EQ(triples(mid.extents()), (std::vector<Triple>{{120, 30, 1}, {150, 50, 3}, {200, 50, 0}}));
  ExtentList one(210, 1000);
  ASSERT_TRUE(c->extents(790, 210, kReqOne, one));
  EXPECT_EQ(triples(one.extents()), (std::vector<Triple>{{210, 90, 0}}));
  for (auto& call : disk.calls()) EXPECT_NE(call.op, "extents") << "the plugin is never asked";
}

TEST_F(ExtentlistServe, DataPassesThrough) {
  FakeDisk disk(1000);
  disk.bytes()[150] = std::byte{42};
  auto c = open(disk);
  std::vector<std::byte> b(2);
  ASSERT_TRUE(c->pread(b, 149, 0));
  EXPECT_EQ(b[1], std::byte{42});
}

TEST(ExtentlistConfig, FileIsRequiredAndMustExist) {
  auto f = extentlist_filter_info.factory();
  auto r = f->config_complete();
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("extentlist=FILE"), std::string::npos);
  ASSERT_TRUE(*f->config("extentlist", "/nonexistent/list"));
  r = f->config_complete();
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("/nonexistent/list: No such file"), std::string::npos)
      << r.error().message;
  EXPECT_FALSE(*f->config("file", "x")) << "keys the filter does not own pass on";
}

}  // namespace
}  // namespace nbd::filters
