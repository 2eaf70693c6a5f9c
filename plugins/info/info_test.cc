// SPDX-License-Identifier: BSD-3-Clause
// info plugin through the plugin API: export name reflection (raw and base64), the 12-byte
// time formats, and the modes it refuses.
#include <gtest/gtest.h>

#include <ctime>
#include <vector>

#include "nbd/plugin.h"

namespace nbd::plugins {
extern const PluginInfo info_plugin_info;
Result<std::string> decode_base64(std::string_view in);
namespace {

std::unique_ptr<Connection> open_info(const char* mode, std::string export_name) {
  auto p = info_plugin_info.factory();
  if (mode) {
    EXPECT_TRUE(p->config("mode", mode));
  }
  EXPECT_TRUE(p->config_complete());
  OpenParams op;
  op.export_name = std::move(export_name);
  auto c = p->open(op);
  return c ? std::move(*c) : nullptr;
}

std::string read_all(Connection& c) {
  std::string s(*c.get_size(), '\0');
  EXPECT_TRUE(c.pread({reinterpret_cast<std::byte*>(s.data()), s.size()}, 0, 0));
  return s;
}

TEST(InfoPlugin, ReflectsTheExportName) {
  auto c = open_info(nullptr, "hello");
  ASSERT_TRUE(c);
  EXPECT_EQ(read_all(*c), "hello");
  EXPECT_FALSE(*c->can_write());
  EXPECT_TRUE(*c->can_multi_conn());
  auto b = open_info("base64exportname", "aGVsbG8gd29ybGQ=");
  ASSERT_TRUE(b);
  EXPECT_EQ(read_all(*b), "hello world");
  auto bin = open_info("base64exportname", "AAEC/w==");
  ASSERT_TRUE(bin);
  EXPECT_EQ(read_all(*bin), std::string("\x00\x01\x02\xff", 4));
}

TEST(Base64, DecodesPaddingAndRejectsJunk) {
  struct Case {
    const char* in;
    const char* out;
  } good[] = {{"", ""}, {"YQ==", "a"}, {"YWI=", "ab"}, {"YWJj", "abc"}, {"YWJj\nZGVm", "abcdef"}};
  for (const auto& g : good) {
    auto r = decode_base64(g.in);
    ASSERT_TRUE(r) << g.in;
    EXPECT_EQ(*r, g.out);
  }
  for (const char* bad : {"YQ", "Y===", "a!!a", "YQ==YWJj", "YW=j"}) EXPECT_FALSE(decode_base64(bad)) << bad;
  EXPECT_EQ(open_info("base64exportname", "a!!"), nullptr);
}

uint64_t seconds(const std::string& s) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = v << 8 | static_cast<uint8_t>(s[i]);
  return v;
}
uint32_t micros(const std::string& s) {
  uint32_t v = 0;
  for (int i = 8; i < 12; ++i) v = v << 8 | static_cast<uint8_t>(s[i]);
  return v;
}

TEST(InfoPlugin, TimeModesAreTwelveBytes) {
  auto t = open_info("time", "");
  ASSERT_TRUE(t);
  ASSERT_EQ(*t->get_size(), 12u);
  std::string s = read_all(*t);
  uint64_t now = static_cast<uint64_t>(std::time(nullptr));
  // time() reads the coarse clock, which can lag the plugin's clock by a tick at a second
  // boundary: allow one second either way.
  EXPECT_LE(seconds(s), now + 1);
  EXPECT_GE(seconds(s) + 2, now);
  EXPECT_LT(micros(s), 1000000u);
  EXPECT_FALSE(*t->can_multi_conn());  // every connection sees a different time
  for (const char* m : {"uptime", "conntime"}) {
    auto c = open_info(m, "");
    ASSERT_TRUE(c);
    std::string u = read_all(*c);
    EXPECT_LT(seconds(u), 60u) << m;  // the plugin was created moments ago
    EXPECT_LT(micros(u), 1000000u) << m;
    std::string tail(4, '\0');
    ASSERT_TRUE(c->pread({reinterpret_cast<std::byte*>(tail.data()), 4}, 8, 0));
  }
}

TEST(InfoPlugin, RefusesUnknownMode) {
  auto p = info_plugin_info.factory();
  auto st = p->config("mode", "weather");
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("mode=weather"), std::string::npos);
}

TEST(InfoPlugin, AddressModeServesTheClientAddress) {
  auto p = info_plugin_info.factory();
  ASSERT_TRUE(p->config("mode", "address"));
  ASSERT_TRUE(p->config_complete());
  OpenParams params;
  params.client_address = "127.0.0.1:40000";
  auto c = p->open(params);
  ASSERT_TRUE(c);
  EXPECT_EQ(*(*c)->get_size(), 15u);
  EXPECT_EQ(read_all(**c), "127.0.0.1:40000");
}

}  // namespace
}  // namespace nbd::plugins
