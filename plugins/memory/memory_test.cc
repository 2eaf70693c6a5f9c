// SPDX-License-Identifier: BSD-3-Clause
// memory plugin through the plugin API (no sockets): contents shared by clients, sparseness
// visible in extents, and the configuration errors.
#include <gtest/gtest.h>

#include <vector>

#include "nbd/plugin.h"

namespace nbd::plugins {
extern const PluginInfo memory_plugin_info;
namespace {

std::unique_ptr<Plugin> configured(std::initializer_list<std::pair<const char*, const char*>> kv) {
  auto p = memory_plugin_info.factory();
  for (auto& [k, v] : kv) EXPECT_TRUE(p->config(k, v)) << k << "=" << v;
  EXPECT_TRUE(p->config_complete());
  return p;
}

std::unique_ptr<Connection> open(Plugin& p) {
  auto c = p.open(OpenParams{});
  EXPECT_TRUE(c);
  return std::move(*c);
}

TEST(MemoryPlugin, WritesAreSeenByEveryClient) {
  for (auto alloc : {"sparse", "malloc"}) {
    auto p = configured({{"size", "1M"}, {"allocator", alloc}});
    auto a = open(*p), b = open(*p);
    EXPECT_EQ(*a->get_size(), 1u << 20);
    EXPECT_TRUE(*a->can_write());
    EXPECT_TRUE(*a->can_multi_conn());
    EXPECT_EQ(*a->can_fua(), FuaMode::Native);
    std::vector<std::byte> w(5000);
    for (size_t i = 0; i < w.size(); ++i) w[i] = std::byte(i % 251 + 1);
    ASSERT_TRUE(a->pwrite(w, 1000, kFua));
    ASSERT_TRUE(a->flush(0));
    std::vector<std::byte> r(5000);
    ASSERT_TRUE(b->pread(r, 1000, 0));
    EXPECT_EQ(r, w) << alloc;
    ASSERT_TRUE(b->zero(100, 1000, kMayTrim));
    ASSERT_TRUE(a->pread(r, 1000, 0));
    EXPECT_EQ(r[99], std::byte{0});
    EXPECT_EQ(r[100], w[100]) << alloc;
  }
}

TEST(MemoryPlugin, SparseExtentsAndTrimFreeHoles) {
  auto p = configured({{"size", "1G"}});
  auto c = open(*p);
  ASSERT_TRUE(c->pwrite(std::vector<std::byte>(10, std::byte{7}), 1 << 20, 0));
  ExtentList e(0, 1 << 30);
  ASSERT_TRUE(c->extents(1 << 30, 0, 0, e));
  ASSERT_EQ(e.extents().size(), 3u);
  EXPECT_EQ(e.extents()[0].flags, kExtentHole | kExtentZero);
  EXPECT_EQ(e.extents()[1].flags, 0u);
  ASSERT_TRUE(c->trim(1 << 30, 0, 0));
  e.reset(0, 1 << 30);
  ASSERT_TRUE(c->extents(1 << 30, 0, 0, e));
  ASSERT_EQ(e.extents().size(), 1u);
  EXPECT_EQ(e.extents()[0].flags, kExtentHole | kExtentZero);
}

TEST(MemoryPlugin, LargestSizeWorks) {
  auto p = configured({{"size", "9223372036854775807"}});
  auto c = open(*p);
  EXPECT_EQ(*c->get_size(), uint64_t{INT64_MAX});
  std::vector<std::byte> w(8, std::byte{0xab}), r(8);
  ASSERT_TRUE(c->pwrite(w, INT64_MAX - 8, 0));
  ASSERT_TRUE(c->pread(r, INT64_MAX - 8, 0));
  EXPECT_EQ(r, w);
}

TEST(MemoryPlugin, ConfigurationErrorsNameTheParameter) {
  auto p = memory_plugin_info.factory();
  auto st = p->config_complete();
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("size"), std::string::npos);
  st = p->config("size", "9223372036854775808");
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("size=9223372036854775808"), std::string::npos);
  st = p->config("allocator", "bogus");
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("allocator=bogus"), std::string::npos);
  EXPECT_FALSE(p->config("colour", "red"));
}

}  // namespace
}  // namespace nbd::plugins
