// SPDX-License-Identifier: BSD-3-Clause
// zero plugin through the plugin API: an empty, read-only export that takes no parameters.
#include <gtest/gtest.h>

#include "nbd/plugin.h"

namespace nbd::plugins {
extern const PluginInfo zero_plugin_info;
namespace {

TEST(ZeroPlugin, IsEmptyAndReadOnly) {
  auto p = zero_plugin_info.factory();
  ASSERT_TRUE(p->config_complete());
  auto c = p->open(OpenParams{});
  ASSERT_TRUE(c);
  EXPECT_EQ(*(*c)->get_size(), 0u);
  EXPECT_FALSE(*(*c)->can_write());
  EXPECT_TRUE(*(*c)->can_multi_conn());
  EXPECT_TRUE(zero_plugin_info.magic_config_key.empty());
}

TEST(ZeroPlugin, RejectsAnyParameter) {
  auto p = zero_plugin_info.factory();
  auto st = p->config("size", "1M");
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().errnum, EINVAL);
  EXPECT_NE(st.error().message.find("size=1M"), std::string::npos);
  EXPECT_NE(st.error().message.find("no parameters"), std::string::npos);
}

}  // namespace
}  // namespace nbd::plugins
