// SPDX-License-Identifier: BSD-3-Clause
// BlockOverlay: the temporary file, block states and counters, pieces of a request, and the
// true/false//PATH parameter the cow and cache filters share.
#include "block_overlay.h"

#include <gtest/gtest.h>

#include <cstdio>

namespace nbd::filters {
namespace {

std::shared_ptr<BlockOverlay> make(uint32_t bs, uint64_t size, bool lru = false) {
  auto o = BlockOverlay::create("test", bs, ::testing::TempDir(), lru);
  EXPECT_TRUE(o);
  EXPECT_TRUE((*o)->set_size(size));
  return *o;
}

TEST(BlockOverlay, BlocksAndTheShortLastOne) {
  auto o = make(4096, 3 * 4096 + 10);
  EXPECT_EQ(o->blocks(), 4u);
  EXPECT_EQ(o->block_length(2), 4096u);
  EXPECT_EQ(o->block_length(3), 10u);
  EXPECT_EQ(o->block_of(4096 * 2 + 5), 2u);
}

TEST(BlockOverlay, UnwrittenBytesReadAsZeroAndPunchFreesThem) {
  auto o = make(65536, 1 << 20);
  std::vector<std::byte> buf(100, std::byte{9});
  ASSERT_TRUE(o->read(7, 10, buf));  // past the end of the empty file
  EXPECT_EQ(buf, std::vector<std::byte>(100));
  std::vector<std::byte> ones(65536, std::byte{1});
  ASSERT_TRUE(o->write(3, 0, ones));
  EXPECT_GE(o->file_bytes_for_test(), 65536u);
  ASSERT_TRUE(o->punch(3, 0, 65536));
  EXPECT_EQ(o->file_bytes_for_test(), 0u) << "the temporary file should be sparse again";
  ASSERT_TRUE(o->read(3, 0, ones));
  EXPECT_EQ(ones, std::vector<std::byte>(65536));
}

TEST(BlockOverlay, CountsHeldAndDirtyBlocks) {
  auto o = make(4096, 8 * 4096);
  auto set = [&](uint64_t b, BlockState s) {
    auto l = o->lock(b);
    o->set_state(b, s);
  };
  set(0, BlockState::Clean);
  set(1, BlockState::Dirty);
  set(2, BlockState::Zero);
  EXPECT_EQ(o->held_blocks(), 2u);
  EXPECT_EQ(o->dirty_blocks(), 1u);
  set(1, BlockState::Clean);
  set(0, BlockState::Absent);
  EXPECT_EQ(o->held_blocks(), 1u);
  EXPECT_EQ(o->dirty_blocks(), 0u);
}

TEST(BlockOverlay, LastUseOrdersBlocks) {
  auto o = make(4096, 8 * 4096, true);
  EXPECT_EQ(o->last_use(5), 0u);
  o->touch(5);
  o->touch(2);
  EXPECT_GT(o->last_use(2), o->last_use(5));
  EXPECT_GT(o->last_use(5), 0u);
}

TEST(BlockOverlay, RefusesAResizeAndAnUntrackableSize) {
  auto o = make(4096, 8 * 4096);
  EXPECT_TRUE(o->set_size(8 * 4096));
  auto r = o->set_size(9 * 4096);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().errnum, EIO);
  auto huge = BlockOverlay::create("test", 4096, ::testing::TempDir());
  ASSERT_TRUE(huge);
  auto h = (*huge)->set_size(uint64_t(1) << 62);  // 2^50 blocks: no machine can track them
  ASSERT_FALSE(h);
  EXPECT_NE(h.error().message.find("cannot track"), std::string::npos);
}

TEST(BlockOverlay, PiecesCoverTheRequestBlockByBlock) {
  auto o = make(4096, 4 * 4096);
  std::vector<std::tuple<uint64_t, uint32_t, uint32_t, uint64_t, bool>> got;
  ASSERT_TRUE(for_each_piece(*o, 4000, 4096 + 200, [&](const Piece& p) -> Status {
    got.emplace_back(p.block, p.off, p.len, p.pos, p.whole(*o));
    return ok();
  }));
  EXPECT_EQ(got, (decltype(got){{0, 4000, 96, 0, false}, {1, 0, 4096, 96, true}, {2, 0, 104, 4192, false}}));
  auto r = for_each_piece(*o, 0, 3 * 4096, [](const Piece& p) -> Status {
    return p.block == 1 ? Status(make_error(EIO, "stop")) : ok();
  });
  EXPECT_FALSE(r);
}

TEST(BoolOrPath, BooleansAndAbsolutePaths) {
  BoolOrPath b;
  ASSERT_TRUE(b.parse("x", "true"));
  EXPECT_TRUE(b.now());
  ASSERT_TRUE(b.parse("x", "off"));
  EXPECT_FALSE(b.now());
  const std::string path = ::testing::TempDir() + "/bool-or-path-flag";
  std::remove(path.c_str());
  ASSERT_TRUE(b.parse("x", path));
  EXPECT_FALSE(b.now());
  std::fclose(std::fopen(path.c_str(), "w"));
  EXPECT_TRUE(b.now());
  std::remove(path.c_str());
  auto r = b.parse("cow-on-read", "relative");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "cow-on-read=relative: not a boolean (true/false) or an absolute /PATH");
}

}  // namespace
}  // namespace nbd::filters
