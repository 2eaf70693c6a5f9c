// SPDX-License-Identifier: BSD-3-Clause
// Allocators: create_allocator's syntax, contents against a plain byte-vector model for every
// operation (including overlapping blits), extents, memory release and parallel use.
#include "runtime/allocator.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

namespace nbd {
namespace {

std::unique_ptr<Allocator> make(std::string_view spec) {
  auto a = create_allocator(spec);
  EXPECT_TRUE(a) << spec << ": " << (a ? "" : a.error().message);
  return a ? std::move(*a) : nullptr;
}

TEST(CreateAllocator, AcceptsUpstreamSyntax) {
  for (auto spec : {"sparse", "malloc", "malloc,mlock=false", "malloc,mlock=true", "zstd"}) {
    auto a = make(spec);
    ASSERT_TRUE(a);
    if (std::string_view(spec) != "malloc,mlock=true") {
      ASSERT_TRUE(a->set_size_hint(1 << 16)) << spec;
    }
  }
}

TEST(CreateAllocator, RejectsUnknownWithOneLineNamingIt) {
  struct Case {
    const char* spec;
    const char* mention;
  } cases[] = {
      {"", "unknown allocator ''"},
      {"bogus", "unknown allocator 'bogus'"},
      {"sparse,mlock=true", "unknown parameter 'mlock=true'"},
      {"malloc,mlock=maybe", "mlock=maybe"},
      {"malloc,colour=red", "unknown parameter 'colour=red'"},
      {"malloc,mlock", "unknown parameter 'mlock'"},
      {"zstd,level=19", "unknown parameter 'level=19'"},
  };
  for (const auto& c : cases) {
    auto a = create_allocator(c.spec);
    ASSERT_FALSE(a) << c.spec;
    EXPECT_EQ(a.error().errnum, EINVAL);
    EXPECT_NE(a.error().message.find(std::string("allocator=") + c.spec + ":"), std::string::npos)
        << a.error().message;
    EXPECT_NE(a.error().message.find(c.mention), std::string::npos) << a.error().message;
    EXPECT_EQ(a.error().message.find('\n'), std::string::npos);
  }
}

class AllocatorModel : public ::testing::TestWithParam<const char*> {};

// Random operations of every kind, checked against a vector after each step.
TEST_P(AllocatorModel, MatchesByteVector) {
  constexpr size_t kSize = 300000;  // not a multiple of any page size
  auto a = make(GetParam());
  auto hint = a->set_size_hint(kSize);
  if (!hint && std::string_view(GetParam()).find("mlock") != std::string_view::npos) {
    GTEST_SKIP() << "mlock not permitted here (ulimit -l): " << hint.error().message;
  }
  ASSERT_TRUE(hint) << hint.error().message;
  std::vector<std::byte> model(kSize);
  std::mt19937_64 rng(42);
  auto pick = [&](size_t max) { return static_cast<size_t>(rng() % max); };
  for (int step = 0; step < 400; ++step) {
    size_t off = pick(kSize), len = 1 + pick(std::min<size_t>(kSize - off, 70000));
    switch (pick(5)) {
      case 0: {
        std::vector<std::byte> w(len);
        for (auto& b : w) b = std::byte(rng() % 3 == 0 ? 0 : rng());
        ASSERT_TRUE(a->write(w, off));
        std::copy(w.begin(), w.end(), model.begin() + off);
        break;
      }
      case 1:
        ASSERT_TRUE(a->zero(len, off));
        std::fill_n(model.begin() + off, len, std::byte{0});
        break;
      case 2: {
        auto c = std::byte(pick(2) ? 0 : 1 + pick(255));
        ASSERT_TRUE(a->fill(c, len, off));
        std::fill_n(model.begin() + off, len, c);
        break;
      }
      case 3: {
        size_t src = pick(kSize - len + 1);
        ASSERT_TRUE(a->blit(*a, len, src, off));
        std::memmove(model.data() + off, model.data() + src, len);
        break;
      }
      default: break;
    }
    std::vector<std::byte> r(len);
    ASSERT_TRUE(a->read(r, off));
    ASSERT_TRUE(std::equal(r.begin(), r.end(), model.begin() + off)) << "step " << step;
  }
  std::vector<std::byte> all(kSize);
  ASSERT_TRUE(a->read(all, 0));
  EXPECT_EQ(all, model);
}

TEST_P(AllocatorModel, BlitBetweenAllocatorsKeepsHolesAsZero) {
  auto src = make("sparse");
  auto dst = make(GetParam());
  auto hint = dst->set_size_hint(1 << 20);
  if (!hint && std::string_view(GetParam()).find("mlock") != std::string_view::npos) {
    GTEST_SKIP() << "mlock not permitted here (ulimit -l): " << hint.error().message;
  }
  ASSERT_TRUE(hint) << hint.error().message;
  ASSERT_TRUE(dst->fill(std::byte{0x77}, 1 << 20, 0));
  ASSERT_TRUE(src->write(std::vector<std::byte>(10, std::byte{0x11}), 100000));
  ASSERT_TRUE(dst->blit(*src, 500000, 0, 1000));
  std::vector<std::byte> r(1 << 20);
  ASSERT_TRUE(dst->read(r, 0));
  for (size_t i = 0; i < r.size(); ++i) {
    uint8_t want = (i < 1000 || i >= 501000) ? 0x77 : (i >= 101000 && i < 101010) ? 0x11 : 0;
    ASSERT_EQ(r[i], std::byte{want}) << i;
  }
}

INSTANTIATE_TEST_SUITE_P(All, AllocatorModel,
                         ::testing::Values("sparse", "malloc", "malloc,mlock=true", "zstd"));

TEST(SparseAllocator, ExtentsShowHolesAndZeroFreesMemory) {
  auto a = make("sparse");
  ASSERT_TRUE(a->set_size_hint(uint64_t{1} << 40));
  const uint64_t at = uint64_t{1} << 39;
  ASSERT_TRUE(a->write(std::vector<std::byte>(5, std::byte{1}), at));
  EXPECT_GT(a->allocated_bytes(), 0u);
  EXPECT_LE(a->allocated_bytes(), 64u * 1024);
  ExtentList e(0, uint64_t{1} << 40);
  ASSERT_TRUE(a->extents(uint64_t{1} << 40, 0, e));
  ASSERT_EQ(e.extents().size(), 3u);
  EXPECT_EQ(e.extents()[0].flags, kExtentHole | kExtentZero);
  EXPECT_EQ(e.extents()[1].flags, 0u);
  EXPECT_LE(e.extents()[1].offset, at);
  EXPECT_GE(e.extents()[1].offset + e.extents()[1].length, at + 5);
  EXPECT_EQ(e.extents()[2].flags, kExtentHole | kExtentZero);
  EXPECT_EQ(e.extents()[2].offset + e.extents()[2].length, uint64_t{1} << 40);
  ASSERT_TRUE(a->zero(5, at));
  EXPECT_EQ(a->allocated_bytes(), 0u);
}

// Compressible data takes a fraction of its size; random data no more than a little over it;
// zeroes take nothing; a terabyte's extents come from the stored pages only.
TEST(ZstdAllocator, CompressesAndStaysSparse) {
  auto a = make("zstd");
  std::string text;
  while (text.size() < (8u << 20))
    text += "line " + std::to_string(text.size() % 977) + " of a compressible disk\n";
  std::vector<std::byte> t(reinterpret_cast<const std::byte*>(text.data()),
                           reinterpret_cast<const std::byte*>(text.data()) + (8u << 20));
  const uint64_t at = uint64_t{1} << 39;
  ASSERT_TRUE(a->write(t, at + 100));
  EXPECT_LT(a->allocated_bytes(), t.size() / 8);
  std::vector<std::byte> back(t.size());
  ASSERT_TRUE(a->read(back, at + 100));
  EXPECT_EQ(back, t);
  ExtentList e(0, uint64_t{1} << 40);
  ASSERT_TRUE(a->extents(uint64_t{1} << 40, 0, e));
  ASSERT_EQ(e.extents().size(), 3u);
  EXPECT_EQ(e.extents()[1].flags, 0u);
  EXPECT_EQ(e.extents()[1].offset, at);
  EXPECT_EQ(e.extents()[1].length, ((100 + t.size() + 32767) / 32768) * 32768);
  ASSERT_TRUE(a->zero(t.size() + 100, at));
  EXPECT_EQ(a->allocated_bytes(), 0u);
  std::vector<std::byte> rnd(1 << 20);
  uint32_t x = 12345;
  for (auto& b : rnd) b = std::byte((x = x * 1103515245 + 12345) >> 24);
  ASSERT_TRUE(a->write(rnd, 7));
  EXPECT_LT(a->allocated_bytes(), rnd.size() + rnd.size() / 50);
  ASSERT_TRUE(a->fill(std::byte{0x41}, 100000, 3));
  std::vector<std::byte> f(100000);
  ASSERT_TRUE(a->read(f, 3));
  EXPECT_EQ(f, std::vector<std::byte>(100000, std::byte{0x41}));
}

TEST(MallocAllocator, ReadsPastWrittenAreaAsZeroAndGrowsOnWrite) {
  auto a = make("malloc");
  std::vector<std::byte> r(100, std::byte{9});
  ASSERT_TRUE(a->read(r, 1 << 20));
  EXPECT_EQ(r, std::vector<std::byte>(100, std::byte{0}));
  ASSERT_TRUE(a->write(std::vector<std::byte>(4, std::byte{3}), 5000000));
  EXPECT_GE(a->allocated_bytes(), 5000004u);
  std::vector<std::byte> r2(6);
  ASSERT_TRUE(a->read(r2, 4999999));
  EXPECT_EQ(r2, (std::vector<std::byte>{std::byte{0}, std::byte{3}, std::byte{3}, std::byte{3}, std::byte{3},
                                        std::byte{0}}));
  ExtentList e(0, 100);
  ASSERT_TRUE(a->extents(100, 0, e));
  ASSERT_EQ(e.extents().size(), 1u);
  EXPECT_EQ(e.extents()[0].flags, 0u);
}

TEST(MallocAllocator, ImpossibleSizeIsAnError) {
  auto a = make("malloc");
  auto st = a->set_size_hint(UINT64_MAX - 10);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().errnum, ENOMEM);
  EXPECT_NE(st.error().message.find("allocator=malloc"), std::string::npos);
}

// Disjoint writers and readers at once; the thread sanitizer build checks the locking.
TEST(Allocators, ParallelDisjointAccess) {
  for (auto spec : {"sparse", "malloc", "zstd"}) {
    auto a = make(spec);
    ASSERT_TRUE(a->set_size_hint(8 << 20));
    std::vector<std::thread> ts;
    for (int t = 0; t < 4; ++t) {
      ts.emplace_back([&, t] {
        std::vector<std::byte> w(4096, std::byte(t + 1)), r(4096);
        for (int i = 0; i < 200; ++i) {
          uint64_t off = (uint64_t(i) * 4 + t) * 4096 % (8 << 20);
          EXPECT_TRUE(a->write(w, off));
          EXPECT_TRUE(a->read(r, off));
          EXPECT_EQ(r, w);
          if (i % 10 == 0) {
            EXPECT_TRUE(a->zero(4096, off));
          }
        }
      });
    }
    for (auto& t : ts) t.join();
  }
}

}  // namespace
}  // namespace nbd
