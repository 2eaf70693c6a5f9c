// SPDX-License-Identifier: BSD-3-Clause
// Image: painting, slicing and repeating stay compact, and rendering into an allocator writes
// exactly the bytes read() describes while allocating only for non-zero content.
#include "data_image.h"

#include <gtest/gtest.h>

#include "data_eval.h"

namespace nbd::data {
namespace {

constexpr uint64_t kTiB = uint64_t{1} << 40;

Image bytes(std::initializer_list<int> v) {
  Bytes b;
  for (int x : v) b.push_back(static_cast<std::byte>(x));
  return Image::from_bytes(std::move(b));
}

std::vector<int> read_ints(const Image& img, uint64_t offset, size_t n) {
  Bytes b(n);
  img.read(b, offset);
  std::vector<int> out;
  for (auto x : b) out.push_back(static_cast<int>(x));
  return out;
}

Image eval(const char* text) {
  auto r = evaluate_string(text, "data", nullptr);
  EXPECT_TRUE(r) << text << ": " << (r ? "" : r.error().message);
  return r ? *r : Image();
}

TEST(DataImage, PaintOverwritesTheMiddleAndMergesZeroes) {
  Image img = bytes({1, 2, 3, 4, 5});
  img.paint(1, bytes({9, 9}));
  EXPECT_EQ(read_ints(img, 0, 5), (std::vector<int>{1, 9, 9, 4, 5}));
  img.paint(0, Image::zeroes(5));
  EXPECT_EQ(img.extents().size(), 1u);
  EXPECT_TRUE(img.all_zero());
  img.paint(7, bytes({7}));
  EXPECT_EQ(img.size(), 8u);
  EXPECT_EQ(read_ints(img, 5, 3), (std::vector<int>{0, 0, 7}));
}

TEST(DataImage, RepeatOfATerabyteIsOneExtent) {
  auto r = Image::repeat(bytes({0x55, 0xaa}), kTiB / 2);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->size(), kTiB);
  EXPECT_EQ(r->extents().size(), 1u);
  EXPECT_EQ(read_ints(*r, kTiB - 5, 5), (std::vector<int>{0xaa, 0x55, 0xaa, 0x55, 0xaa}));
  // (X*a)*b stays one level deep.
  auto r2 = Image::repeat(*r, 4);
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->extents()[0].unit->size(), 2u);
}

TEST(DataImage, RepeatOfZeroesIsAHole) {
  auto r = Image::repeat(bytes({0}), kTiB);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->extents().size(), 1u);
  EXPECT_EQ(r->extents()[0].kind, ImageExtent::Kind::Zero);
}

TEST(DataImage, SliceOfATileKeepsThePhase) {
  Image abc = eval("\"abc\"*1000");
  EXPECT_EQ(read_ints(abc.slice(4, 10), 0, 6), (std::vector<int>{'b', 'c', 'a', 'b', 'c', 'a'}));
  EXPECT_EQ(read_ints(abc, 2997, 3), (std::vector<int>{'a', 'b', 'c'}));
}

TEST(DataImage, LargeUnitsAreReadWithoutAPattern) {
  Image img = eval("( 1 2 @100000 3 )*3");  // a unit above the pattern size
  ASSERT_EQ(img.size(), 3u * 100001);
  EXPECT_EQ(read_ints(img, 99999, 4), (std::vector<int>{0, 3, 1, 2}));
  EXPECT_EQ(read_ints(img, 200002, 3), (std::vector<int>{1, 2, 0}));
}

// Renders text into a fresh sparse allocator and checks it against Image::read.
void check_render(const char* text, uint64_t max_allocated) {
  Image img = eval(text);
  auto a = create_allocator("sparse");
  ASSERT_TRUE(a);
  ASSERT_TRUE(img.render(**a));
  EXPECT_LE((*a)->allocated_bytes(), max_allocated) << text;
  const uint64_t step = 1 << 16;
  for (uint64_t off = 0; off < img.size() && off < (uint64_t{64} << 20); off += step) {
    size_t n = static_cast<size_t>(std::min(step, img.size() - off));
    Bytes want(n), got(n);
    img.read(want, off);
    ASSERT_TRUE((*a)->read(got, off));
    ASSERT_EQ(want, got) << text << " at offset " << off;
  }
}

TEST(DataImage, RenderMatchesReadAndCostsOnlyRealContent) {
  check_render("( 0x55 0xAA )*2048", 64 * 1024);
  check_render("0 1 2 3 @0x1fe 0x55 0xaa", 64 * 1024);
  check_render("@1T 1", 64 * 1024);
  check_render("( 0 )*1T", 0);
  check_render("( 0 0 0 )*1000 @1G", 0);
  check_render("( 1 @1M )*8", 8 * 64 * 1024);
  check_render("( \"abc\" @100000 )*5 ( 7 @64K )*3[10:100000]", 16 * 64 * 1024);
  check_render("( 1 2 3 )*3M", 10u << 20);
}

}  // namespace
}  // namespace nbd::data
