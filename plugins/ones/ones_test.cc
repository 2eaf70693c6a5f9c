// SPDX-License-Identifier: BSD-3-Clause
// ones plugin through the plugin API: the byte on every read, writes discarded.
#include <gtest/gtest.h>

#include <vector>

#include "nbd/plugin.h"

namespace nbd::plugins {
extern const PluginInfo ones_plugin_info;
namespace {

TEST(OnesPlugin, ReadsTheByteAndDiscardsWrites) {
  struct Case {
    const char* byte;
    uint8_t want;
  } cases[] = {{nullptr, 0xff}, {"0", 0}, {"0x5a", 0x5a}, {"255", 0xff}, {"7", 7}};
  for (const auto& k : cases) {
    auto p = ones_plugin_info.factory();
    ASSERT_TRUE(p->config("size", "64K"));
    if (k.byte) {
      ASSERT_TRUE(p->config("byte", k.byte)) << k.byte;
    }
    ASSERT_TRUE(p->config_complete());
    auto c = p->open(OpenParams{});
    ASSERT_TRUE(c);
    EXPECT_EQ(*(*c)->get_size(), 65536u);
    std::vector<std::byte> w(1000, std::byte{0x12}), r(1000);
    ASSERT_TRUE((*c)->pwrite(w, 0, 0));
    ASSERT_TRUE((*c)->zero(1000, 0, 0));
    ASSERT_TRUE((*c)->pread(r, 0, 0));
    EXPECT_EQ(r, std::vector<std::byte>(1000, std::byte{k.want})) << (k.byte ? k.byte : "default");
  }
}

TEST(OnesPlugin, SizeDefaultsToZeroAndBadByteIsRejected) {
  auto p = ones_plugin_info.factory();
  auto st = p->config("byte", "256");
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("byte=256"), std::string::npos);
  EXPECT_FALSE(p->config("byte", "x"));
  ASSERT_TRUE(p->config_complete());
  auto c = p->open(OpenParams{});
  ASSERT_TRUE(c);
  EXPECT_EQ(*(*c)->get_size(), 0u);
}

}  // namespace
}  // namespace nbd::plugins
