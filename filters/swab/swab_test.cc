// SPDX-License-Identifier: BSD-3-Clause
// swab filter against the in-memory fake disk: swapped reads and writes per word size, the
// truncated size, block size answers, alignment refusals and word-aligned extents.
#include <gtest/gtest.h>

#include "fixtures/fake_disk.h"

namespace nbd::filters {
extern const FilterInfo swab_filter_info;
namespace {

using namespace nbd::testing;

Result<std::unique_ptr<Connection>> open_bits(FakeDisk& disk, const std::string& bits) {
  static std::vector<std::unique_ptr<Filter>> keep;  // the filter outlives its connections
  keep.push_back(swab_filter_info.factory());
  if (!bits.empty()) NBD_TRY(configure(*keep.back(), {{"swab-bits", bits}}));
  return open_over(*keep.back(), disk);
}

void fill_counting(FakeDisk& disk) {
  for (size_t i = 0; i < disk.bytes().size(); ++i) disk.bytes()[i] = std::byte(i);
}

std::vector<int> read_ints(Connection& c, uint64_t offset, size_t n) {
  std::vector<std::byte> b(n);
  EXPECT_TRUE(c.pread(b, offset, 0));
  std::vector<int> r;
  for (auto x : b) r.push_back(int(x));
  return r;
}

TEST(SwabFilter, ReadsSwapEachWord) {
  const struct {
    std::string bits;
    std::vector<int> want;
  } table[] = {
      {"", {1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14}},  // default is 16
      {"8", {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}},
      {"16", {1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14}},
      {"32", {3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12}},
      {"64", {7, 6, 5, 4, 3, 2, 1, 0, 15, 14, 13, 12, 11, 10, 9, 8}},
  };
  for (const auto& t : table) {
    FakeDisk disk(64);
    fill_counting(disk);
    auto c = open_bits(disk, t.bits);
    ASSERT_TRUE(c) << t.bits;
    EXPECT_EQ(read_ints(**c, 0, 16), t.want) << t.bits;
  }
}

TEST(SwabFilter, WritesAreSwappedOnTheWayDownAndReadBack) {
  FakeDisk disk(64);
  auto c = open_bits(disk, "32");
  ASSERT_TRUE((*c)->pwrite(bytes_of("abcdefgh"), 8, 0));
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(disk.bytes().data()) + 8, 8), "dcbahgfe");
  EXPECT_EQ(read_ints(**c, 8, 8), (std::vector<int>{'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'}));
}

TEST(SwabFilter, SizeIsRoundedDownToTheWord) {
  for (auto [bits, size] :
       std::vector<std::pair<std::string, uint64_t>>{{"8", 1001}, {"16", 1000}, {"64", 1000}}) {
    FakeDisk disk(1001);
    EXPECT_EQ(*(*open_bits(disk, bits))->get_size(), size) << bits;
  }
  FakeDisk tiny(7);
  EXPECT_EQ(*(*open_bits(tiny, "64"))->get_size(), 0u);
}

TEST(SwabFilter, BlockSizeAsUpstream) {
  FakeDisk disk(1024);
  auto b = *(*open_bits(disk, "32"))->block_size();
  EXPECT_EQ(b.minimum, 4u);
  EXPECT_EQ(b.preferred, 512u);
  EXPECT_EQ(b.maximum, 0xffffffffu);
  disk.caps().block_size = {.minimum = 2, .preferred = 4096, .maximum = 65536};
  b = *(*open_bits(disk, "64"))->block_size();
  EXPECT_EQ(b.minimum, 8u);
  EXPECT_EQ(b.preferred, 4096u);
  EXPECT_EQ(b.maximum, 65536u);
  disk.caps().block_size = {.minimum = 512, .preferred = 4096, .maximum = 65536};
  EXPECT_EQ((*open_bits(disk, "16"))->block_size()->minimum, 512u);
}

TEST(SwabFilter, UnalignedRequestsFailWithEinval) {
  FakeDisk disk(64);
  auto f = swab_filter_info.factory();
  ASSERT_TRUE(configure(*f, {{"swab-bits", "32"}}));
  // Straight on the filter's connection, past the core's own check of the minimum block size.
  auto c = *f->open({}, [&](const OpenParams& p) { return open_layer(disk, p); });
  std::vector<std::byte> b(4);
  auto r = c->pread(b, 2, 0);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().errnum, EINVAL);
  EXPECT_NE(r.error().message.find("must be aligned"), std::string::npos);
  EXPECT_FALSE(c->pwrite(std::span(b).first(3), 0, 0));
  EXPECT_FALSE(c->zero(6, 4, 0));
  EXPECT_FALSE(c->trim(4, 1, 0));
  EXPECT_FALSE(c->cache(2, 0, 0));
  ExtentList e(0, 5);
  EXPECT_FALSE(c->extents(5, 0, 0, e));
  disk.clear_calls();
  EXPECT_TRUE(c->zero(8, 4, 0));
  EXPECT_EQ(disk.calls(), (std::vector<FakeCall>{{"zero", 4, 8, 0}}));
}

TEST(SwabFilter, ExtentsAreWordAligned) {
  FakeDisk disk(64);
  disk.allocate(5, 6);   // data 5..10: words 4..11 hold data for swab-bits=32
  disk.allocate(33, 1);  // a single data byte in word 32..35
  auto c = open_bits(disk, "32");
  ExtentList e(0, 64);
  ASSERT_TRUE((*c)->extents(64, 0, 0, e));
  const uint64_t hz = kExtentHole | kExtentZero;
  std::vector<std::tuple<uint64_t, uint64_t, uint64_t>> got;
  for (auto& x : e.extents()) got.emplace_back(x.offset, x.length, x.flags);
  EXPECT_EQ(got, (std::vector<std::tuple<uint64_t, uint64_t, uint64_t>>{
                     {0, 4, hz}, {4, 8, 0}, {12, 20, hz}, {32, 4, 0}, {36, 28, hz}}));
}

TEST(SwabFilter, RejectsBadBits) {
  for (std::string v : {"12", "0", "128", "x", ""}) {
    auto f = swab_filter_info.factory();
    auto r = f->config("swab-bits", v);
    ASSERT_FALSE(r) << v;
    EXPECT_NE(r.error().message.find("swab-bits="), std::string::npos) << r.error().message;
  }
  EXPECT_FALSE(*swab_filter_info.factory()->config("bits", "16")) << "keys the filter does not own pass on";
}

}  // namespace
}  // namespace nbd::filters
