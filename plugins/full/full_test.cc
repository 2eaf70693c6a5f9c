// SPDX-License-Identifier: BSD-3-Clause
// full plugin through the plugin API: zeroes on read, ENOSPC on every kind of write.
#include <gtest/gtest.h>

#include <vector>

#include "nbd/plugin.h"

namespace nbd::plugins {
extern const PluginInfo full_plugin_info;
namespace {

std::unique_ptr<Connection> open_full(const char* size) {
  auto p = full_plugin_info.factory();
  EXPECT_TRUE(p->config("size", size));
  EXPECT_TRUE(p->config_complete());
  auto c = p->open(OpenParams{});
  EXPECT_TRUE(c);
  return std::move(*c);
}

TEST(FullPlugin, ReadsZeroesAndReportsAHole) {
  auto c = open_full("1M");
  EXPECT_EQ(*c->get_size(), 1u << 20);
  std::vector<std::byte> buf(4096, std::byte{0xaa});
  ASSERT_TRUE(c->pread(buf, 8192, 0));
  EXPECT_EQ(buf, std::vector<std::byte>(4096, std::byte{0}));
  ExtentList e(0, 1 << 20);
  ASSERT_TRUE(c->extents(1 << 20, 0, 0, e));
  ASSERT_EQ(e.extents().size(), 1u);
  EXPECT_EQ(e.extents()[0].flags, kExtentHole | kExtentZero);
}

TEST(FullPlugin, EveryWriteFailsWithNoSpace) {
  auto c = open_full("1M");
  EXPECT_TRUE(*c->can_write());
  std::vector<std::byte> buf(512);
  auto w = c->pwrite(buf, 0, 0);
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().errnum, ENOSPC);
  auto t = c->trim(512, 0, 0);
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().errnum, ENOSPC);
  auto z = c->zero(512, 0, kMayTrim);
  ASSERT_FALSE(z);
  EXPECT_EQ(z.error().errnum, ENOSPC);
  auto fz = c->zero(512, 0, kFastZero);
  ASSERT_FALSE(fz);
  EXPECT_EQ(fz.error().errnum, ENOTSUP);
}

TEST(FullPlugin, SizeIsRequired) {
  auto p = full_plugin_info.factory();
  auto st = p->config_complete();
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("size"), std::string::npos);
  EXPECT_FALSE(p->config("size", "1Q"));
}

}  // namespace
}  // namespace nbd::plugins
