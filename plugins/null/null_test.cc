// SPDX-License-Identifier: BSD-3-Clause
// null plugin, called directly through the plugin API (no sockets).
#include <gtest/gtest.h>

#include <vector>

#include "nbd/plugin.h"

namespace nbd::plugins {
extern const PluginInfo null_plugin_info;
namespace {

TEST(NullPlugin, ReadsZeroesAndReportsSize) {
  auto p = null_plugin_info.factory();
  ASSERT_TRUE(p->config("size", "1M"));
  ASSERT_TRUE(p->config_complete());
  auto c = p->open(OpenParams{});
  ASSERT_TRUE(c);
  EXPECT_EQ(*(*c)->get_size(), 1u << 20);
  std::vector<std::byte> buf(4096, std::byte{0xff});
  ASSERT_TRUE((*c)->pwrite(buf, 0, 0));
  ASSERT_TRUE((*c)->pread(buf, 0, 0));
  for (auto b : buf) ASSERT_EQ(b, std::byte{0});
  ExtentList e(0, 4096);
  ASSERT_TRUE((*c)->extents(4096, 0, 0, e));
  ASSERT_EQ(e.extents().size(), 1u);
  EXPECT_EQ(e.extents()[0].flags, kExtentHole | kExtentZero);
}

TEST(NullPlugin, RejectsBadSizeAndUnknownKey) {
  auto p = null_plugin_info.factory();
  auto r = p->config("size", "1Q");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("size=1Q"), std::string::npos);
  EXPECT_FALSE(p->config("colour", "blue"));
}

}  // namespace
}  // namespace nbd::plugins
