// SPDX-License-Identifier: BSD-3-Clause
// SparseArray: contents, page accounting (what is allocated and freed) and run reporting.
#include "common/sparse_array.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <vector>

#include "common/zero.h"

namespace nbd {
namespace {

constexpr uint64_t kPage = SparseArray::kPageSize;

std::vector<std::byte> bytes(size_t n, uint8_t v) { return std::vector<std::byte>(n, std::byte{v}); }

struct Span {
  uint64_t offset, length;
  bool allocated;
  bool operator==(const Span&) const = default;
};

std::vector<Span> runs(const SparseArray& a, uint64_t count, uint64_t offset) {
  std::vector<Span> out;
  a.for_each_run(count, offset, [&](uint64_t o, uint64_t l, bool al) {
    if (!out.empty() && out.back().allocated == al && out.back().offset + out.back().length == o) {
      out.back().length += l;
    } else {
      out.push_back({o, l, al});
    }
    return true;
  });
  return out;
}

TEST(SparseArray, UnwrittenReadsZeroAndCostsNothing) {
  SparseArray a;
  auto buf = bytes(100000, 0xaa);
  a.read(buf, 12345);
  EXPECT_EQ(buf, bytes(100000, 0));
  EXPECT_EQ(a.allocated_pages(), 0u);
}

TEST(SparseArray, WriteAcrossPagesReadsBack) {
  SparseArray a;
  std::vector<std::byte> w(3 * kPage);
  for (size_t i = 0; i < w.size(); ++i) w[i] = std::byte(i * 7 + 1);
  ASSERT_TRUE(a.write(w, kPage - 100));
  EXPECT_EQ(a.allocated_pages(), 4u);
  std::vector<std::byte> r(w.size() + 200);
  a.read(r, kPage - 200);
  EXPECT_EQ(std::vector<std::byte>(r.begin(), r.begin() + 100), bytes(100, 0));
  EXPECT_EQ(std::vector<std::byte>(r.begin() + 100, r.end() - 100), w);
  EXPECT_EQ(std::vector<std::byte>(r.end() - 100, r.end()), bytes(100, 0));
}

TEST(SparseArray, WriteIfAllocatedOnlyTouchesExistingPages) {
  SparseArray a;
  ASSERT_TRUE(a.write(bytes(2 * kPage, 1), 0));
  EXPECT_TRUE(a.write_if_allocated(bytes(kPage, 2), kPage / 2));
  EXPECT_FALSE(a.write_if_allocated(bytes(kPage, 3), kPage + kPage / 2));  // reaches page 2
  EXPECT_EQ(a.allocated_pages(), 2u);
  auto r = bytes(2 * kPage, 0);
  a.read(r, 0);
  EXPECT_EQ(r[kPage / 2 - 1], std::byte{1});
  EXPECT_EQ(r[kPage / 2], std::byte{2});
  EXPECT_EQ(r[kPage + kPage / 2 - 1], std::byte{2});
  EXPECT_EQ(r[kPage + kPage / 2], std::byte{1});  // the refused write changed nothing
}

TEST(SparseArray, ZeroWriteToHoleAllocatesNothing) {
  SparseArray a;
  ASSERT_TRUE(a.write(bytes(4 * kPage, 0), 0));
  EXPECT_EQ(a.allocated_pages(), 0u);
  ASSERT_TRUE(a.write(bytes(1, 1), 5 * kPage + 3));
  EXPECT_EQ(a.allocated_pages(), 1u);
}

TEST(SparseArray, FarOffsetsCostOnePageEach) {
  SparseArray a;
  const uint64_t offs[] = {0, uint64_t{1} << 40, (uint64_t{1} << 63) - 8, UINT64_MAX - 7};
  for (uint64_t o : offs) ASSERT_TRUE(a.write(bytes(8, 0x5a), o));
  EXPECT_EQ(a.allocated_pages(), 4u);
  for (uint64_t o : offs) {
    auto r = bytes(8, 0);
    a.read(r, o);
    EXPECT_EQ(r, bytes(8, 0x5a)) << o;
  }
}

TEST(SparseArray, PartialZeroFreesPageOnlyWhenAllZero) {
  SparseArray a;
  ASSERT_TRUE(a.write(bytes(10, 1), 100));
  ASSERT_TRUE(a.write(bytes(10, 2), 1000));
  a.zero(10, 100);
  EXPECT_EQ(a.allocated_pages(), 1u);  // bytes at 1000 still non-zero
  auto r = bytes(20, 9);
  a.read(r, 95);
  EXPECT_EQ(r, bytes(20, 0));
  a.zero(5, 1005);
  EXPECT_EQ(a.allocated_pages(), 1u);
  a.zero(5, 1000);
  EXPECT_EQ(a.allocated_pages(), 0u);
}

TEST(SparseArray, ZeroHugeRangeFreesEverythingQuickly) {
  SparseArray a;
  for (uint64_t i = 0; i < 64; ++i) ASSERT_TRUE(a.write(bytes(kPage, 3), i * (uint64_t{1} << 34)));
  ASSERT_TRUE(a.write(bytes(10, 4), kPage * 2 + 5));
  a.zero((uint64_t{1} << 63) - 1, 1);  // 2^63 bytes: must walk directories, not pages
  EXPECT_EQ(a.allocated_pages(), 1u);  // page 0 keeps byte 0
  auto r = bytes(2, 9);
  a.read(r, 0);
  EXPECT_EQ(r[0], std::byte{3});
  EXPECT_EQ(r[1], std::byte{0});
}

TEST(SparseArray, FillNonZeroAllocatesAndZeroFillFrees) {
  SparseArray a;
  ASSERT_TRUE(a.fill(std::byte{0xee}, 2 * kPage + 1, kPage));
  EXPECT_EQ(a.allocated_pages(), 3u);
  auto r = bytes(2 * kPage + 3, 0);
  a.read(r, kPage - 1);
  EXPECT_EQ(r.front(), std::byte{0});
  EXPECT_EQ(r[1], std::byte{0xee});
  EXPECT_EQ(r[2 * kPage + 1], std::byte{0xee});
  EXPECT_EQ(r.back(), std::byte{0});
  ASSERT_TRUE(a.fill(std::byte{0}, 3 * kPage, kPage));
  EXPECT_EQ(a.allocated_pages(), 0u);
}

// Freed pages are reused: a reused page must read as zero except where it is written again,
// and the memory must really go back to the kernel (RSS falls).
TEST(SparseArray, FreedPagesComeBackZeroed) {
  SparseArray a;
  constexpr uint64_t kPages = 2048;  // 64 MiB: more than one region
  for (uint64_t i = 0; i < kPages; ++i) ASSERT_TRUE(a.write(bytes(kPage, uint8_t(i | 1)), i * kPage));
  auto rss_kib = [] {
    FILE* f = std::fopen("/proc/self/statm", "r");
    long pages = 0, resident = 0;
    EXPECT_EQ(std::fscanf(f, "%ld %ld", &pages, &resident), 2);
    std::fclose(f);
    return resident * 4;
  };
  long before = rss_kib();
  a.zero(kPages * kPage, 0);
  EXPECT_EQ(a.allocated_pages(), 0u);
  EXPECT_LT(rss_kib(), before - 60 * 1024);
  // Reuse every page with a single byte at a different place, far from where it was.
  for (uint64_t i = 0; i < kPages; ++i) ASSERT_TRUE(a.write(bytes(1, 0x77), (kPages + i) * kPage + 100));
  std::vector<std::byte> got(kPage);
  for (uint64_t i = 0; i < kPages; ++i) {
    a.read(got, (kPages + i) * kPage);
    ASSERT_EQ(got[100], std::byte{0x77});
    got[100] = std::byte{0};
    ASSERT_TRUE(is_zero(got)) << "page " << i;
  }
  a.read(got, 5 * kPage);
  EXPECT_TRUE(is_zero(got));
  EXPECT_EQ(a.allocated_pages(), kPages);
}

TEST(SparseArray, RunsSkipHolesOfAnySize) {
  SparseArray a;
  const uint64_t far = uint64_t{1} << 60;
  ASSERT_TRUE(a.write(bytes(1, 1), kPage + 1));
  ASSERT_TRUE(a.write(bytes(1, 1), far));
  auto got = runs(a, far + 2 * kPage, 10);
  std::vector<Span> want = {
      {10, kPage - 10, false},
      {kPage, kPage, true},
      {2 * kPage, far - 2 * kPage, false},
      {far, kPage, true},
      {far + kPage, kPage + 10, false},
  };
  EXPECT_EQ(got, want);
  // Fully unallocated range: a single hole run.
  EXPECT_EQ(runs(a, 100, 5 * kPage), (std::vector<Span>{{5 * kPage, 100, false}}));
}

TEST(SparseArray, RunsStopWhenAsked) {
  SparseArray a;
  ASSERT_TRUE(a.write(bytes(1, 1), 0));
  int calls = 0;
  a.for_each_run(10 * kPage, 0, [&](uint64_t, uint64_t, bool) { return ++calls < 1; });
  EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace nbd
