// SPDX-License-Identifier: BSD-3-Clause
// cacheextents filter over the fake disk: a REQ_ONE walk over the disk asks the disk once, the
// answers are the disk's own, writes, trims and zeroes empty the cache, connections share it.
#include <gtest/gtest.h>

#include "fixtures/fake_disk.h"

namespace nbd::filters {
extern const FilterInfo cacheextents_filter_info;
namespace {

using namespace nbd::testing;

constexpr uint64_t kSize = 64 * 1024;

// 4 KiB of data, 4 KiB of hole, ... over the whole disk.
void stripe(FakeDisk& disk) {
  for (uint64_t o = 0; o < kSize; o += 8192) disk.allocate(o, 4096);
}

size_t extents_calls(FakeDisk& disk) {
  size_t n = 0;
  for (const FakeCall& c : disk.calls()) n += c.op == "extents";
  return n;
}

// Walks the disk one extent at a time with REQ_ONE, as qemu-img map does; returns what it saw.
std::vector<Extent> walk(Connection& c) {
  std::vector<Extent> seen;
  for (uint64_t pos = 0; pos < kSize;) {
    ExtentList l(pos, kSize);
    EXPECT_TRUE(c.extents(kSize - pos, pos, kReqOne, l));
    if (l.empty()) break;
    Extent e = l.extents().front();
    seen.push_back(e);
    pos = e.offset + e.length;
  }
  return seen;
}

std::vector<Extent> expected_stripes() {
  std::vector<Extent> v;
  for (uint64_t o = 0; o < kSize; o += 8192) {
    v.push_back({o, 4096, 0});
    v.push_back({o + 4096, 4096, kExtentHole | kExtentZero});
  }
  return v;
}

bool same(const std::vector<Extent>& a, const std::vector<Extent>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].offset != b[i].offset || a[i].length != b[i].length || a[i].flags != b[i].flags) return false;
  return true;
}

TEST(CacheExtentsFilter, AWalkAsksTheDiskOnceAndSeesItsExtents) {
  FakeDisk disk(kSize);
  stripe(disk);
  auto f = cacheextents_filter_info.factory();
  auto c = open_over(*f, disk);
  ASSERT_TRUE(c);
  disk.clear_calls();
  EXPECT_TRUE(same(walk(**c), expected_stripes()));
  EXPECT_EQ(extents_calls(disk), 1u);
  // The disk was asked without REQ_ONE, for everything it would say.
  for (const FakeCall& call : disk.calls())
    if (call.op == "extents") {
      EXPECT_EQ(call.flags & kReqOne, 0u);
    }
  c->reset();
}

// Negative: the same walk straight on the disk's layer asks once per extent (16), so the count
// above is the filter's doing.
TEST(CacheExtentsFilter, WithoutItEveryExtentIsACall) {
  FakeDisk disk(kSize);
  stripe(disk);
  auto l = open_layer(disk, {});
  ASSERT_TRUE(l);
  auto c = server::Layer::open(std::move(*l), false);
  ASSERT_TRUE(c);
  disk.clear_calls();
  EXPECT_TRUE(same(walk(**c), expected_stripes()));
  EXPECT_EQ(extents_calls(disk), 16u);
}

TEST(CacheExtentsFilter, WritesTrimsAndZeroesEmptyTheCache) {
  FakeDisk disk(kSize);
  stripe(disk);
  auto f = cacheextents_filter_info.factory();
  auto c = open_over(*f, disk);
  ASSERT_TRUE(c);
  walk(**c);
  // A write into the first hole: the next walk asks again and sees the hole gone.
  std::vector<std::byte> data(4096, std::byte{1});
  ASSERT_TRUE((*c)->pwrite(data, 4096, 0));
  disk.clear_calls();
  auto seen = walk(**c);
  EXPECT_EQ(extents_calls(disk), 1u);
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.front().offset, 0u);
  EXPECT_EQ(seen.front().length, 3 * 4096u);  // data, the written hole, data
  EXPECT_EQ(seen.front().flags, 0u);
  for (int op = 0; op < 2; ++op) {
    disk.clear_calls();
    walk(**c);
    EXPECT_EQ(extents_calls(disk), 0u) << "cached again";
    ASSERT_TRUE(op == 0 ? (*c)->trim(4096, 0, 0) : (*c)->zero(4096, 0, 0));
    disk.clear_calls();
    walk(**c);
    EXPECT_EQ(extents_calls(disk), 1u) << (op == 0 ? "trim" : "zero") << " emptied the cache";
  }
  c->reset();
}

TEST(CacheExtentsFilter, ConnectionsShareTheCache) {
  FakeDisk disk(kSize);
  stripe(disk);
  auto f = cacheextents_filter_info.factory();
  auto a = open_over(*f, disk);
  auto b = open_over(*f, disk);
  ASSERT_TRUE(a && b);
  walk(**a);
  disk.clear_calls();
  EXPECT_TRUE(same(walk(**b), expected_stripes()));
  EXPECT_EQ(extents_calls(disk), 0u);
  // A write on one connection empties the cache the other reads.
  std::vector<std::byte> data(512, std::byte{1});
  ASSERT_TRUE((*a)->pwrite(data, 4096, 0));
  disk.clear_calls();
  walk(**b);
  EXPECT_EQ(extents_calls(disk), 1u);
  a->reset();
  b->reset();
}

}  // namespace
}  // namespace nbd::filters
