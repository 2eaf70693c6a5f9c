// SPDX-License-Identifier: BSD-3-Clause
// cache filter against the in-memory fake disk: what reaches the plugin in each mode, reads
// served from the cache, flush, extents of dirty blocks, LRU reclaim, parameters.
#include <gtest/gtest.h>

#include <random>
#include <thread>

#include "fixtures/fake_disk.h"

namespace nbd::filters {
extern const FilterInfo cache_filter_info;
namespace {

using namespace nbd::testing;
using KV = std::vector<std::pair<std::string, std::string>>;

constexpr uint64_t kBlock = 64 * 1024;

std::unique_ptr<Filter> make_cache(const KV& kv) {
  auto f = cache_filter_info.factory();
  EXPECT_TRUE(configure(*f, kv));
  EXPECT_TRUE(f->get_ready(ThreadModel::Parallel));
  return f;
}

void fill_pattern(FakeDisk& d) {
  const uint64_t size = d.bytes().size();
  for (uint64_t i = 0; i < size; ++i) d.bytes()[i] = std::byte(i * 13 + i / kBlock);
  d.allocate(0, size);
}

int count_op(FakeDisk& d, const std::string& op) {
  int n = 0;
  for (auto& c : d.calls()) n += c.op == op;
  return n;
}

std::vector<std::byte> read_all(Connection& c, uint64_t size) {
  std::vector<std::byte> v(size);
  EXPECT_TRUE(c.pread(v, 0, 0));
  return v;
}

TEST(CacheFilter, CacheOnReadServesTheSecondReadFromTheCache) {
  FakeDisk disk(4 * kBlock);
  fill_pattern(disk);
  auto f = make_cache({{"cache-on-read", "true"}});
  auto c = open_over(*f, disk);
  ASSERT_TRUE(c);
  disk.clear_calls();
  std::vector<std::byte> a(100), b(100);
  ASSERT_TRUE((*c)->pread(a, kBlock + 7, 0));
  ASSERT_TRUE((*c)->pread(b, kBlock + 7, 0));
  EXPECT_EQ(disk.calls(), (std::vector<FakeCall>{{"pread", kBlock, kBlock, 0}}));
  EXPECT_TRUE(std::equal(a.begin(), a.end(), disk.bytes().begin() + kBlock + 7));
  EXPECT_EQ(a, b);
}

TEST(CacheFilter, WithoutCacheOnReadEveryReadGoesBelow) {
  FakeDisk disk(4 * kBlock);
  fill_pattern(disk);
  auto f = make_cache({});
  auto c = open_over(*f, disk);
  disk.clear_calls();
  std::vector<std::byte> a(100);
  ASSERT_TRUE((*c)->pread(a, 0, 0));
  ASSERT_TRUE((*c)->pread(a, 0, 0));
  EXPECT_EQ(count_op(disk, "pread"), 2);
}

TEST(CacheFilter, WritebackWritesBelowOnlyOnFlush) {
  FakeDisk disk(4 * kBlock);
  fill_pattern(disk);
  auto f = make_cache({{"cache", "writeback"}});
  auto c = open_over(*f, disk);
  disk.clear_calls();
  ASSERT_TRUE((*c)->pwrite(bytes_of("hello"), kBlock + 3, 0));
  EXPECT_EQ(disk.calls(), (std::vector<FakeCall>{{"pread", kBlock, kBlock, 0}}))
      << "only the read-modify-write";
  EXPECT_NE(disk.bytes()[kBlock + 3], std::byte{'h'});
  std::vector<std::byte> got(5);
  ASSERT_TRUE((*c)->pread(got, kBlock + 3, 0));
  EXPECT_EQ(got, bytes_of("hello"));
  disk.clear_calls();
  ASSERT_TRUE((*c)->flush(0));
  EXPECT_EQ(disk.calls(), (std::vector<FakeCall>{{"pwrite", kBlock, kBlock, 0}, {"flush", 0, 0, 0}}));
  EXPECT_EQ(disk.bytes()[kBlock + 3], std::byte{'h'});
  disk.clear_calls();
  ASSERT_TRUE((*c)->flush(0));
  EXPECT_EQ(disk.calls(), (std::vector<FakeCall>{{"flush", 0, 0, 0}})) << "nothing dirty is left";
}

TEST(CacheFilter, WritebackSendsFuaWritesThrough) {
  FakeDisk disk(4 * kBlock);
  fill_pattern(disk);
  auto f = make_cache({});
  auto c = open_over(*f, disk);
  disk.clear_calls();
  ASSERT_TRUE((*c)->pwrite(bytes_of("fua"), 10, kFua));
  EXPECT_EQ(disk.calls(), (std::vector<FakeCall>{{"pwrite", 10, 3, kFua}}));
  EXPECT_EQ(disk.bytes()[10], std::byte{'f'});
}

TEST(CacheFilter, WritethroughWritesBelowAtOnce) {
  FakeDisk disk(4 * kBlock);
  fill_pattern(disk);
  auto f = make_cache({{"cache", "writethrough"}, {"cache-on-read", "true"}});
  auto c = open_over(*f, disk);
  std::vector<std::byte> warm(10);
  ASSERT_TRUE((*c)->pread(warm, 0, 0));  // block 0 is cached: the write must update it too
  disk.clear_calls();
  ASSERT_TRUE((*c)->pwrite(bytes_of("abc"), 5, 0));
  EXPECT_EQ(disk.calls(), (std::vector<FakeCall>{{"pwrite", 5, 3, 0}}));
  EXPECT_EQ(disk.bytes()[5], std::byte{'a'});
  ASSERT_TRUE((*c)->pread(warm, 0, 0));
  EXPECT_EQ(warm[5], std::byte{'a'});
  EXPECT_EQ(count_op(disk, "pread"), 0) << "served from the updated cache";
}

TEST(CacheFilter, UnsafeIgnoresFlushAndFua) {
  FakeDisk disk(4 * kBlock);
  fill_pattern(disk);
  auto f = make_cache({{"cache", "unsafe"}});
  auto c = open_over(*f, disk);
  ASSERT_TRUE((*c)->pwrite(std::vector<std::byte>(kBlock, std::byte{5}), 0, kFua));
  disk.clear_calls();
  ASSERT_TRUE((*c)->flush(0));
  EXPECT_TRUE(disk.calls().empty());
  EXPECT_NE(disk.bytes()[0], std::byte{5});
  EXPECT_EQ(read_all(**c, kBlock), std::vector<std::byte>(kBlock, std::byte{5}));
}

// Random writes, zeroes and trims in each mode read back as a local model says, and after a
// flush the plugin holds the same bytes (unsafe: not until then).
TEST(CacheFilter, RandomRequestsMatchAModelInEveryMode) {
  for (std::string mode : {"writeback", "writethrough", "unsafe"}) {
    const uint64_t size = 6 * kBlock + 1000;
    FakeDisk disk(size);
    fill_pattern(disk);
    auto f = make_cache({{"cache", mode}, {"cache-on-read", "true"}});
    auto c = open_over(*f, disk);
    std::vector<std::byte> model = disk.bytes();
    std::mt19937_64 rng(7);
    for (int i = 0; i < 200; ++i) {
      uint64_t off = rng() % size, len = 1 + rng() % std::min<uint64_t>(2 * kBlock, size - off);
      std::vector<std::byte> data(len, std::byte(rng() | 1));
      int op = int(rng() % 5);
      if (op <= 2) {
        ASSERT_TRUE((*c)->pwrite(data, off, rng() % 4 == 0 ? kFua : 0)) << mode;
        std::copy(data.begin(), data.end(), model.begin() + off);
      } else if (op == 3) {
        ASSERT_TRUE((*c)->zero(len, off, 0)) << mode;
        std::fill_n(model.begin() + off, len, std::byte{0});
      } else {
        std::vector<std::byte> got(len);
        ASSERT_TRUE((*c)->pread(got, off, 0));
        ASSERT_TRUE(std::equal(got.begin(), got.end(), model.begin() + off)) << mode << " read " << i;
      }
    }
    EXPECT_EQ(read_all(**c, size), model) << mode;
    ASSERT_TRUE((*c)->flush(0));
    if (mode == "unsafe") {
      EXPECT_NE(disk.bytes(), model) << "unsafe: flush writes nothing back";
    } else {
      EXPECT_EQ(disk.bytes(), model) << mode;
    }
  }
}

TEST(CacheFilter, DirtyBlocksAreDataInExtents) {
  FakeDisk disk(4 * kBlock);  // all hole
  auto f = make_cache({});
  auto c = open_over(*f, disk);
  ASSERT_TRUE((*c)->pwrite(bytes_of("x"), kBlock + 1, 0));
  ExtentList e(0, 4 * kBlock);
  ASSERT_TRUE((*c)->extents(4 * kBlock, 0, 0, e));
  ASSERT_EQ(e.extents().size(), 3u);
  EXPECT_EQ(e.extents()[1].offset, kBlock);
  EXPECT_EQ(e.extents()[1].length, kBlock);
  EXPECT_EQ(e.extents()[1].flags, 0u);
  EXPECT_EQ(e.extents()[0].flags, kExtentHole | kExtentZero);
}

TEST(CacheFilter, TrimGoesBelowAndDropsWholeBlocks) {
  FakeDisk disk(4 * kBlock);
  fill_pattern(disk);
  auto f = make_cache({{"cache-on-read", "true"}});
  auto c = open_over(*f, disk);
  ASSERT_TRUE((*c)->pwrite(std::vector<std::byte>(2 * kBlock, std::byte{3}), 0, 0));
  ASSERT_TRUE((*c)->trim(kBlock, 0, 0));
  EXPECT_EQ(count_op(disk, "trim"), 1);
  ASSERT_TRUE((*c)->flush(0));
  EXPECT_EQ(disk.bytes()[0], std::byte{0}) << "the trimmed dirty block was not written back";
  EXPECT_EQ(disk.bytes()[kBlock], std::byte{3});
}

TEST(CacheFilter, ReclaimKeepsTheCacheUnderItsMaximumWithCorrectBytes) {
  const uint64_t size = 32 * kBlock;  // 2M through a 1M cache
  FakeDisk disk(size);
  fill_pattern(disk);
  const auto original = disk.bytes();
  auto f = make_cache({{"cache", "unsafe"}, {"cache-max-size", "1M"}, {"cache-on-read", "true"}});
  auto c = open_over(*f, disk);
  std::vector<std::byte> model = original;
  std::vector<std::byte> blk(kBlock);
  for (uint64_t b = 0; b < 32; ++b) {  // dirty every block: reclaim must write them back
    std::fill(blk.begin(), blk.end(), std::byte(b + 1));
    ASSERT_TRUE((*c)->pwrite(std::span(blk).first(kBlock - 1), b * kBlock, 0));
    std::copy(blk.begin(), blk.end() - 1, model.begin() + b * kBlock);
  }
  EXPECT_EQ(read_all(**c, size), model);
  // Most blocks were evicted (written back first, even in unsafe mode): the plugin has them.
  int written_back = 0;
  for (uint64_t b = 0; b < 32; ++b) written_back += disk.bytes()[b * kBlock] == std::byte(b + 1);
  EXPECT_GE(written_back, 16);
  // The most recently used block stays cached: reading it asks nothing below.
  std::vector<std::byte> one(10);
  ASSERT_TRUE((*c)->pread(one, 31 * kBlock, 0));
  disk.clear_calls();
  ASSERT_TRUE((*c)->pread(one, 31 * kBlock, 0));
  EXPECT_EQ(count_op(disk, "pread"), 0);
}

// Parallel readers of random ranges while reclaim evicts blocks under them: every byte read is
// the plugin's (a read served from the file in one piece must notice an eviction mid-read).
TEST(CacheFilter, ConcurrentReadersDuringReclaimReadTheRightBytes) {
  const uint64_t size = 64 * kBlock;  // 4M through a 1M cache
  FakeDisk disk(size);
  fill_pattern(disk);
  auto f = make_cache({{"cache-max-size", "1M"}, {"cache-on-read", "true"}});
  auto c = open_over(*f, disk);
  std::vector<std::thread> ts;
  std::atomic<int> bad{0};
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&, t] {
      std::mt19937_64 rng(t);
      std::vector<std::byte> buf(4 * kBlock);
      for (int i = 0; i < 200; ++i) {
        uint64_t off = rng() % (size - buf.size()), len = 1 + rng() % buf.size();
        auto part = std::span(buf).first(len);
        if (!(*c)->pread(part, off, 0) || !std::equal(part.begin(), part.end(), disk.bytes().begin() + off))
          ++bad;
      }
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(bad.load(), 0);
}

TEST(CacheFilter, ConcurrentWritersAndFlushes) {
  FakeDisk disk(8 * kBlock);
  auto f = make_cache({{"cache-max-size", "1M"}, {"cache-min-block-size", "4K"}});
  auto c = open_over(*f, disk);
  std::vector<std::thread> ts;
  for (int t = 0; t < 6; ++t)
    ts.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        std::byte v{uint8_t(1 + t)};
        ASSERT_TRUE((*c)->pwrite(std::span(&v, 1), uint64_t(t * 100000 + i), 0));
        if (i % 10 == 0) {
          ASSERT_TRUE((*c)->flush(0));
        }
      }
    });
  for (auto& t : ts) t.join();
  ASSERT_TRUE((*c)->flush(0));
  for (int t = 0; t < 6; ++t)
    for (int i = 0; i < 50; ++i) ASSERT_EQ(disk.bytes()[t * 100000 + i], std::byte(1 + t));
}

TEST(CacheFilter, RejectsBadParameters) {
  const KV bad[] = {{{"cache", "sometimes"}},
                    {{"cache-min-block-size", "1024"}},
                    {{"cache-min-block-size", "5000"}},
                    {{"cache-min-block-size", "4G"}},
                    {{"cache-max-size", "100K"}},
                    {{"cache-high-threshold", "0"}},
                    {{"cache-low-threshold", "0"}},
                    {{"cache-on-read", "relative"}},
                    {{"cache-max-size", "1M"}, {"cache-low-threshold", "95"}}};
  for (const auto& kv : bad) {
    auto f = cache_filter_info.factory();
    auto st = configure(*f, kv);
    ASSERT_FALSE(st) << kv.back().first << "=" << kv.back().second;
    EXPECT_NE(st.error().message.find(kv.back().first), std::string::npos) << st.error().message;
  }
  auto f = cache_filter_info.factory();
  EXPECT_TRUE(configure(
      *f, {{"cache-max-size", "1M"}, {"cache-high-threshold", "50"}, {"cache-low-threshold", "10"}}));
  EXPECT_FALSE(*f->config("size", "1M"));
}

}  // namespace
}  // namespace nbd::filters
