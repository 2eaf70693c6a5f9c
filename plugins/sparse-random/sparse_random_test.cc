// SPDX-License-Identifier: BSD-3-Clause
// sparse-random: the layout generator (repeatable, shaped by percent and runlength, content
// consistent with extents) and the plugin's write and zero checks, without sockets.
#include <gtest/gtest.h>

#include <vector>

#include "common/random.h"
#include "nbd/plugin.h"
#include "sparse_random_layout.h"

namespace nbd::plugins {
extern const PluginInfo sparse_random_plugin_info;
}

namespace nbd::sparse_random {
namespace {

constexpr uint64_t kTiB = uint64_t{1} << 40;
constexpr uint64_t kMiB = uint64_t{1} << 20;

std::vector<std::byte> read(const Layout& l, uint64_t offset, size_t n) {
  std::vector<std::byte> b(n);
  l.read(b, offset);
  return b;
}

// Walks the whole disk span by span: bytes of data, and the number of data runs.
std::pair<uint64_t, uint64_t> data_bytes_and_runs(const Layout& l) {
  uint64_t data = 0, runs = 0, blocks = (l.size() + Layout::kBlockSize - 1) / Layout::kBlockSize;
  bool prev = false;
  for (uint64_t b = 0; b < blocks;) {
    auto s = l.span_at(b);
    if (s.data) data += (s.end - b) * Layout::kBlockSize;
    if (s.data && !prev) ++runs;
    prev = s.data;
    b = s.end;
  }
  return {data, runs};
}

bool all_same(const std::vector<std::byte>& b, size_t n) {
  return std::all_of(b.begin(), b.begin() + static_cast<ptrdiff_t>(n),
                     [&](std::byte v) { return v == b[0]; });
}

TEST(SparseRandomLayout, SameSeedSameDiskOtherSeedOtherDisk) {
  Params p{.size = 16 * kMiB, .seed = 42, .percent = 50, .runlength = kMiB};
  Layout a(p), b(p);
  p.seed = 43;
  Layout c(p);
  EXPECT_EQ(read(a, 0, 16 * kMiB), read(b, 0, 16 * kMiB));
  EXPECT_NE(read(a, 0, 16 * kMiB), read(c, 0, 16 * kMiB));
}

TEST(SparseRandomLayout, PercentAndRunLengthShapeATerabyte) {
  Layout l(Params{.size = kTiB, .seed = 7});  // defaults: 10%, 16M runs
  auto [data, runs] = data_bytes_and_runs(l);
  double share = static_cast<double>(data) / static_cast<double>(kTiB);
  EXPECT_NEAR(share, 0.10, 0.01);
  double mean_run = static_cast<double>(data) / static_cast<double>(runs);
  EXPECT_NEAR(mean_run / (16 * kMiB), 1.0, 0.2);

  Layout dense(Params{.size = 4 * 1024 * kMiB, .seed = 7, .percent = 90, .runlength = kMiB});
  EXPECT_NEAR(static_cast<double>(data_bytes_and_runs(dense).first) / (4.0 * 1024 * kMiB), 0.90, 0.02);
}

TEST(SparseRandomLayout, UpstreamsChainAndContent) {
  // Block 3168 of `sparse-random 64M seed=1 percent=50` is the first data block Debian's nbdkit
  // 1.32 serves, repeating 0x42 (the shell test compares whole disks with it).
  Layout l(Params{.size = 64 * kMiB, .seed = 1, .percent = 50});
  EXPECT_FALSE(l.span_at(0).data);
  EXPECT_EQ(l.span_at(0).end, 3168u);
  EXPECT_TRUE(l.span_at(3168).data);
  auto b = read(l, 3168 * Layout::kBlockSize, 4096);
  EXPECT_EQ(b[0], std::byte{0x42});
  EXPECT_TRUE(all_same(b, 4096));
}

TEST(SparseRandomLayout, BeyondSixteenTebibytesCellsKeepTheShape) {
  Layout l(Params{.size = 32 * kTiB, .seed = 7});  // our own layout: no draw per block
  auto [data, runs] = data_bytes_and_runs(l);
  EXPECT_NEAR(static_cast<double>(data) / (32.0 * kTiB), 0.10, 0.01);
  EXPECT_GT(runs, 1000u);
  auto x = read(l, 32 * kTiB - 4096, 4096);
  EXPECT_EQ(read(l, 32 * kTiB - 4096, 4096), x);
}

TEST(SparseRandomLayout, ZeroAndHundredPercent) {
  Layout none(Params{.size = 100 * kMiB + 5, .seed = 1, .percent = 0});
  Layout all(Params{.size = 100 * kMiB + 5, .seed = 1, .percent = 100});
  ExtentList e(0, 100 * kMiB + 5);
  ASSERT_TRUE(none.extents(100 * kMiB + 5, 0, e));
  ASSERT_EQ(e.extents().size(), 1u);
  EXPECT_EQ(e.extents()[0].flags, kExtentHole | kExtentZero);
  e.reset(0, 100 * kMiB + 5);
  ASSERT_TRUE(all.extents(100 * kMiB + 5, 0, e));
  ASSERT_EQ(e.extents().size(), 1u);
  EXPECT_EQ(e.extents()[0].flags, 0u);
  EXPECT_EQ(e.extents()[0].length, 100 * kMiB + 5);
  auto tail = read(all, 100 * kMiB, 5);
  EXPECT_NE(tail[4], std::byte{0});
}

TEST(SparseRandomLayout, BytesAgreeWithExtents) {
  for (bool random_content : {false, true}) {
    Layout l(Params{.size = 256 * kMiB,
                    .seed = 9,
                    .percent = 30,
                    .runlength = 256 * 1024,
                    .random_content = random_content});
    ExtentList e(0, 256 * kMiB);
    ASSERT_TRUE(l.extents(256 * kMiB, 0, e));
    ASSERT_GT(e.extents().size(), 10u);
    for (const auto& x : e.extents()) {
      auto b = read(l, x.offset, static_cast<size_t>(std::min<uint64_t>(x.length, 3 * Layout::kBlockSize)));
      bool zero = std::all_of(b.begin(), b.end(), [](std::byte v) { return v == std::byte{0}; });
      EXPECT_EQ(zero, x.flags != 0) << "extent at " << x.offset;
      if (x.flags != 0) continue;
      if (random_content) {
        EXPECT_FALSE(all_same(b, 64)) << "extent at " << x.offset;
      } else {
        EXPECT_EQ(b[0], b[Layout::kBlockSize - 1]);
      }
    }
  }
}

TEST(SparseRandomLayout, UnalignedReadsAreSlicesOfAlignedOnes) {
  Layout l(
      Params{.size = 64 * kMiB, .seed = 5, .percent = 50, .runlength = 64 * 1024, .random_content = true});
  auto whole = read(l, 0, 8 * kMiB);
  auto part = read(l, 12345, 1000000);
  EXPECT_TRUE(std::equal(part.begin(), part.end(), whole.begin() + 12345));
  EXPECT_TRUE(l.matches(part, 12345));
}

TEST(SparseRandomPlugin, WritesAndZeroesAreChecked) {
  auto p = plugins::sparse_random_plugin_info.factory();
  ASSERT_TRUE(p->config("size", "64M"));
  ASSERT_TRUE(p->config("seed", "3"));
  ASSERT_TRUE(p->config("percent", "50"));
  ASSERT_TRUE(p->config("runlength", "1M"));
  ASSERT_TRUE(p->config_complete());
  auto c = p->open(OpenParams{});
  ASSERT_TRUE(c);
  Connection& conn = **c;
  ExtentList e(0, 64 * kMiB);
  ASSERT_TRUE(conn.extents(64 * kMiB, 0, 0, e));
  uint64_t data_at = UINT64_MAX, hole_at = UINT64_MAX;
  for (const auto& x : e.extents()) {
    uint64_t& first = x.flags == 0 ? data_at : hole_at;
    first = std::min(first, x.offset);
  }
  ASSERT_NE(data_at, UINT64_MAX);
  ASSERT_NE(hole_at, UINT64_MAX);

  std::vector<std::byte> buf(65536);
  ASSERT_TRUE(conn.pread(buf, data_at, 0));
  EXPECT_TRUE(conn.pwrite(buf, data_at, 0));  // the same bytes: accepted
  buf[100] ^= std::byte{1};
  auto r = conn.pwrite(buf, data_at, 0);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().errnum, EIO);
  EXPECT_TRUE(conn.zero(4096, hole_at, 0));
  r = conn.zero(4096, data_at, 0);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().errnum, EIO);
  EXPECT_TRUE(conn.trim(4096, data_at, 0));
}

TEST(SparseRandomPlugin, ParameterErrors) {
  auto p = plugins::sparse_random_plugin_info.factory();
  EXPECT_FALSE(p->config_complete());  // size is required
  auto r = p->config("percent", "150");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "percent=150: expected a number from 0 to 100");
  EXPECT_FALSE(p->config("runlength", "0"));
  EXPECT_FALSE(p->config("random-content", "maybe"));
  EXPECT_FALSE(p->config("colour", "blue"));
  EXPECT_TRUE(p->config("percent", "0.5"));
}

TEST(Random, XoshiroIsRepeatableAndBelowStaysInRange) {
  Xoshiro256 a(1), b(1), c(2);
  EXPECT_EQ(a.next(), b.next());
  EXPECT_NE(a.next(), c.next());
  for (int i = 0; i < 1000; ++i) EXPECT_LT(a.below(7), 7u);
  EXPECT_NE(mix64(1, 2), mix64(2, 1));
}

}  // namespace
}  // namespace nbd::sparse_random
