// SPDX-License-Identifier: BSD-3-Clause
// cow filter against the in-memory fake disk: writes land in the overlay and never below,
// partial blocks are read-modify-written, trim/zero/extents, one overlay for all connections,
// cow-on-read / cow-on-cache, parameters.
#include <gtest/gtest.h>

#include <random>
#include <thread>

#include "fixtures/fake_disk.h"

namespace nbd::filters {
extern const FilterInfo cow_filter_info;
namespace {

using namespace nbd::testing;

constexpr uint64_t kBlock = 4096;

std::unique_ptr<Filter> make_cow(const std::vector<std::pair<std::string, std::string>>& kv) {
  auto f = cow_filter_info.factory();
  EXPECT_TRUE(configure(*f, kv));
  EXPECT_TRUE(f->get_ready(ThreadModel::Parallel));
  return f;
}

// A disk whose every byte says where it is, so a misplaced block shows.
void fill_pattern(FakeDisk& d) {
  const uint64_t size = d.bytes().size();
  for (uint64_t i = 0; i < size; ++i) d.bytes()[i] = std::byte(i * 7 + i / 4096);
  d.allocate(0, size);
}

std::vector<std::byte> read_all(Connection& c, uint64_t size) {
  std::vector<std::byte> v(size);
  EXPECT_TRUE(c.pread(v, 0, 0));
  return v;
}

int count_op(FakeDisk& d, const std::string& op) {
  int n = 0;
  for (auto& c : d.calls()) n += c.op == op;
  return n;
}

TEST(CowFilter, WritesStayInTheOverlay) {
  const uint64_t size = 10 * kBlock + 100;  // a short last block
  FakeDisk disk(size);
  fill_pattern(disk);
  const auto original = disk.bytes();
  auto f = make_cow({{"cow-block-size", "4K"}});
  auto c = open_over(*f, disk);
  ASSERT_TRUE(c);
  EXPECT_TRUE(*(*c)->can_write());
  std::vector<std::byte> model = original;
  std::mt19937_64 rng(42);
  for (int i = 0; i < 300; ++i) {
    uint64_t off = rng() % size, len = 1 + rng() % std::min<uint64_t>(3 * kBlock, size - off);
    std::vector<std::byte> data(len, std::byte(rng()));
    switch (rng() % 4) {
      case 0:
      case 1:
        ASSERT_TRUE((*c)->pwrite(data, off, 0));
        std::copy(data.begin(), data.end(), model.begin() + off);
        break;
      case 2:
        ASSERT_TRUE((*c)->trim(len, off, 0));
        std::fill_n(model.begin() + off, len, std::byte{0});
        break;
      case 3:
        ASSERT_TRUE((*c)->zero(len, off, kMayTrim));
        std::fill_n(model.begin() + off, len, std::byte{0});
        break;
    }
  }
  EXPECT_EQ(read_all(**c, size), model);
  EXPECT_EQ(disk.bytes(), original) << "the plugin below was changed";
  EXPECT_EQ(count_op(disk, "pwrite") + count_op(disk, "trim") + count_op(disk, "zero"), 0);
}

TEST(CowFilter, PartialWriteReadsTheBlockFromBelowOnce) {
  FakeDisk disk(4 * kBlock);
  fill_pattern(disk);
  auto f = make_cow({{"cow-block-size", "4096"}});
  auto c = open_over(*f, disk);
  disk.clear_calls();
  ASSERT_TRUE((*c)->pwrite(bytes_of("xy"), kBlock + 10, 0));
  ASSERT_TRUE((*c)->pwrite(bytes_of("z"), kBlock + 20, 0));  // the block is in the overlay now
  EXPECT_EQ(disk.calls(), (std::vector<FakeCall>{{"pread", kBlock, kBlock, 0}}));
  ASSERT_TRUE((*c)->pwrite(std::vector<std::byte>(kBlock, std::byte{1}), 2 * kBlock, 0));  // whole: no read
  EXPECT_EQ(disk.calls().size(), 1u);
  auto all = read_all(**c, 4 * kBlock);
  EXPECT_EQ(all[kBlock + 10], std::byte{'x'});
  EXPECT_EQ(all[kBlock + 20], std::byte{'z'});
  EXPECT_EQ(all[kBlock + 9], disk.bytes()[kBlock + 9]);
  EXPECT_EQ(all[2 * kBlock + 5], std::byte{1});
}

TEST(CowFilter, ExtentsShowOverlayBlocksAndAskBelowForTheRest) {
  FakeDisk disk(8 * kBlock);
  disk.allocate(6 * kBlock, 2 * kBlock);  // below: hole 0..6, data 6..8
  auto f = make_cow({{"cow-block-size", "4K"}});
  auto c = open_over(*f, disk);
  ASSERT_TRUE((*c)->pwrite(bytes_of("a"), kBlock + 1, 0));  // block 1: data
  ASSERT_TRUE((*c)->trim(2 * kBlock, 6 * kBlock, 0));       // blocks 6, 7: hole,zero
  ASSERT_TRUE((*c)->zero(100, 3 * kBlock, 0));              // part of block 3: data
  ExtentList e(0, 8 * kBlock);
  ASSERT_TRUE((*c)->extents(8 * kBlock, 0, 0, e));
  const uint64_t hz = kExtentHole | kExtentZero;
  EXPECT_EQ(e.extents().size(), 5u);
  const std::vector<std::tuple<uint64_t, uint64_t, uint64_t>> want = {{0, kBlock, hz},
                                                                      {kBlock, kBlock, 0},
                                                                      {2 * kBlock, kBlock, hz},
                                                                      {3 * kBlock, kBlock, 0},
                                                                      {4 * kBlock, 4 * kBlock, hz}};
  for (size_t i = 0; i < std::min(want.size(), e.extents().size()); ++i) {
    auto& x = e.extents()[i];
    EXPECT_EQ(std::make_tuple(x.offset, x.length, x.flags), want[i]) << i;
  }
  ExtentList one(0, 8 * kBlock);
  ASSERT_TRUE((*c)->extents(8 * kBlock, 0, kReqOne, one));
  ASSERT_EQ(one.extents().size(), 1u);
  EXPECT_EQ(one.extents()[0].length, kBlock);
}

TEST(CowFilter, AllConnectionsShareOneOverlay) {
  FakeDisk disk(4 * kBlock);
  fill_pattern(disk);
  auto f = make_cow({{"cow-block-size", "4K"}});
  auto a = open_over(*f, disk);
  auto b = open_over(*f, disk);
  ASSERT_TRUE(a && b);
  ASSERT_TRUE((*a)->pwrite(bytes_of("shared"), 100, 0));
  std::vector<std::byte> got(6);
  ASSERT_TRUE((*b)->pread(got, 100, 0));
  EXPECT_EQ(got, bytes_of("shared"));
  EXPECT_TRUE(*(*b)->can_multi_conn());
}

TEST(CowFilter, ConcurrentPartialWritesToOneBlockKeepEveryByte) {
  FakeDisk disk(2 * kBlock);
  auto f = make_cow({{"cow-block-size", "4K"}});
  auto c = open_over(*f, disk);
  std::vector<std::thread> ts;
  for (int t = 0; t < 8; ++t)
    ts.emplace_back([&, t] {
      for (int i = 0; i < 64; ++i) {
        std::byte v{uint8_t(1 + t)};
        ASSERT_TRUE((*c)->pwrite(std::span(&v, 1), uint64_t(t * 64 + i), 0));
      }
    });
  for (auto& t : ts) t.join();
  auto all = read_all(**c, 2 * kBlock);
  for (int t = 0; t < 8; ++t)
    for (int i = 0; i < 64; ++i) ASSERT_EQ(all[t * 64 + i], std::byte(1 + t)) << t << " " << i;
}

TEST(CowFilter, CowOnReadKeepsReadBlocks) {
  FakeDisk disk(4 * kBlock);
  fill_pattern(disk);
  auto f = make_cow({{"cow-block-size", "4K"}, {"cow-on-read", "true"}});
  auto c = open_over(*f, disk);
  disk.clear_calls();
  std::vector<std::byte> buf(10);
  ASSERT_TRUE((*c)->pread(buf, 5, 0));
  ASSERT_TRUE((*c)->pread(buf, 50, 0));
  EXPECT_EQ(disk.calls(), (std::vector<FakeCall>{{"pread", 0, kBlock, 0}}));
  EXPECT_EQ(buf[0], disk.bytes()[50]);
}

TEST(CowFilter, CowOnReadPathSwitchesAtRunTime) {
  const std::string flag = ::testing::TempDir() + "/cow-on-read-flag";
  std::remove(flag.c_str());
  FakeDisk disk(4 * kBlock);
  fill_pattern(disk);
  auto f = make_cow({{"cow-block-size", "4K"}, {"cow-on-read", flag}});
  auto c = open_over(*f, disk);
  std::vector<std::byte> buf(10);
  disk.clear_calls();
  ASSERT_TRUE((*c)->pread(buf, 0, 0));
  ASSERT_TRUE((*c)->pread(buf, 0, 0));
  EXPECT_EQ(count_op(disk, "pread"), 2) << "no flag file: reads are not kept";
  FILE* fp = std::fopen(flag.c_str(), "w");
  ASSERT_TRUE(fp);
  std::fclose(fp);
  disk.clear_calls();
  ASSERT_TRUE((*c)->pread(buf, 0, 0));
  ASSERT_TRUE((*c)->pread(buf, 0, 0));
  EXPECT_EQ(count_op(disk, "pread"), 1) << "flag file: the first read is kept";
  std::remove(flag.c_str());
}

TEST(CowFilter, CowOnCacheCopiesBlocksUp) {
  FakeDisk disk(4 * kBlock);
  fill_pattern(disk);
  auto f = make_cow({{"cow-block-size", "4K"}, {"cow-on-cache", "true"}});
  auto c = open_over(*f, disk);
  ASSERT_TRUE((*c)->cache(2 * kBlock, 0, 0));
  disk.clear_calls();
  auto first = std::vector<std::byte>(2 * kBlock);
  ASSERT_TRUE((*c)->pread(first, 0, 0));
  EXPECT_TRUE(disk.calls().empty());
  EXPECT_TRUE(std::equal(first.begin(), first.end(), disk.bytes().begin()));
  // Without cow-on-cache the request goes down and nothing is kept.
  auto g = make_cow({{"cow-block-size", "4K"}});
  auto d = open_over(*g, disk);
  disk.clear_calls();
  ASSERT_TRUE((*d)->cache(kBlock, 0, 0));
  ASSERT_TRUE((*d)->pread(first, 0, 0));
  EXPECT_EQ(count_op(disk, "cache"), 1);
  EXPECT_EQ(count_op(disk, "pread"), 2);
}

TEST(CowFilter, AFailedReadBelowFailsTheWriteAndChangesNothing) {
  FakeDisk disk(4 * kBlock);
  fill_pattern(disk);
  auto f = make_cow({{"cow-block-size", "4K"}});
  auto c = open_over(*f, disk);
  disk.fail_next("pread", EIO);
  auto r = (*c)->pwrite(bytes_of("x"), 10, 0);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().errnum, EIO);
  std::vector<std::byte> b(1);
  ASSERT_TRUE((*c)->pread(b, 10, 0));
  EXPECT_EQ(b[0], disk.bytes()[10]);
}

TEST(CowFilter, TheSizeMustNotChangeBetweenConnections) {
  FakeDisk small(4 * kBlock), big(8 * kBlock);
  auto f = make_cow({});
  ASSERT_TRUE(open_over(*f, small));
  auto r = open_over(*f, big);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("size changed"), std::string::npos);
}

TEST(CowFilter, RejectsBadParameters) {
  for (std::string bs : {"1024", "3000", "4G", "0", "64Q", "-1"}) {
    auto f = cow_filter_info.factory();
    auto r = f->config("cow-block-size", bs);
    ASSERT_FALSE(r) << bs;
    EXPECT_NE(r.error().message.find("cow-block-size"), std::string::npos) << r.error().message;
  }
  for (std::string bs : {"4096", "64K", "2G"})
    EXPECT_TRUE(*cow_filter_info.factory()->config("cow-block-size", bs));
  auto f = cow_filter_info.factory();
  EXPECT_FALSE(f->config("cow-on-read", "maybe"));
  EXPECT_FALSE(f->config("cow-on-read", "relative/path"));
  EXPECT_FALSE(f->config("cow-on-cache", "sometimes"));
  EXPECT_FALSE(*f->config("size", "1M")) << "keys the filter does not own pass on";
}

}  // namespace
}  // namespace nbd::filters
