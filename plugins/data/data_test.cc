// SPDX-License-Identifier: BSD-3-Clause
// data plugin through the plugin API (no sockets): data=, raw=, base64=, size=, $VARs from
// other parameters, writes, extents, and its configuration errors.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/encoding.h"
#include "nbd/plugin.h"

namespace nbd::plugins {
extern const PluginInfo data_plugin_info;
namespace {

using Params = std::vector<std::pair<std::string, std::string>>;

Result<std::unique_ptr<Connection>> open_with(std::unique_ptr<Plugin>& p, const Params& params) {
  p = data_plugin_info.factory();
  for (const auto& [k, v] : params) NBD_TRY(p->config(k, v));
  NBD_TRY(p->config_complete());
  return p->open(OpenParams{});
}

std::string read_all(Connection& c) {
  uint64_t size = *c.get_size();
  std::string s(size, '\0');
  EXPECT_TRUE(c.pread(std::as_writable_bytes(std::span(s)), 0, 0));
  return s;
}

TEST(DataPlugin, DataRawBase64AndSize) {
  std::unique_ptr<Plugin> p;
  auto c = open_with(p, {{"data", "0x41 \"BC\" @5 le16:0x4544"}});
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(read_all(**c), std::string("ABC\0\0DE", 7));

  c = open_with(p, {{"raw", "Hello"}, {"size", "8"}});
  ASSERT_TRUE(c);
  EXPECT_EQ(read_all(**c), std::string("Hello\0\0\0", 8));

  c = open_with(p, {{"base64", "aGVsbG8gbmJka2l0IHVzZXI="}, {"size", "5"}});
  ASSERT_TRUE(c);
  EXPECT_EQ(read_all(**c), "hello");
}

TEST(DataPlugin, VariablesComeFromOtherParameters) {
  std::unique_ptr<Plugin> p;
  auto c = open_with(p, {{"data", "$pattern*3"}, {"pattern", "0x61 0x62"}});
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(read_all(**c), "ababab");
}

TEST(DataPlugin, WritesZeroesAndExtents) {
  std::unique_ptr<Plugin> p;
  auto c = open_with(p, {{"data", "@1M 1"}, {"allocator", "sparse"}});
  ASSERT_TRUE(c) << c.error().message;
  Connection& conn = **c;
  EXPECT_EQ(*conn.get_size(), (1u << 20) + 1);
  ExtentList e(0, (1u << 20) + 1);
  ASSERT_TRUE(conn.extents((1u << 20) + 1, 0, 0, e));
  ASSERT_GE(e.extents().size(), 2u);
  EXPECT_EQ(e.extents().front().flags, kExtentHole | kExtentZero);
  EXPECT_EQ(e.extents().back().flags, 0u);
  std::string w = "xyz";
  ASSERT_TRUE(conn.pwrite(std::as_bytes(std::span(w)), 10, 0));
  ASSERT_TRUE(conn.zero(1, 1u << 20, 0));
  std::string r(3, '\0');
  ASSERT_TRUE(conn.pread(std::as_writable_bytes(std::span(r)), 10, 0));
  EXPECT_EQ(r, "xyz");
  std::string last(1, '\1');
  ASSERT_TRUE(conn.pread(std::as_writable_bytes(std::span(last)), 1u << 20, 0));
  EXPECT_EQ(last[0], '\0');
}

TEST(DataPlugin, ConfigurationErrors) {
  std::unique_ptr<Plugin> p;
  auto c = open_with(p, {{"data", "1"}, {"raw", "a"}});
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().message, "exactly one of data=, raw= or base64= must be given");
  c = open_with(p, {{"size", "1"}});
  ASSERT_FALSE(c);
  c = open_with(p, {{"data", "1 2 )"}});
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().message, "data: offset 4: unmatched ')'");
  c = open_with(p, {{"base64", "MT!z"}});
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().message, "base64: offset 2: invalid character '!'");
  c = open_with(p, {{"data", "1"}, {"size", "1Q"}});
  ASSERT_FALSE(c);
  c = open_with(p, {{"data", "1"}, {"allocator", "nonsense"}});
  ASSERT_FALSE(c);
}

TEST(DataBase64, DecodesWithAndWithoutPadding) {
  auto s = [](const std::vector<std::byte>& b) {
    return std::string(reinterpret_cast<const char*>(b.data()), b.size());
  };
  EXPECT_EQ(s(*decode_base64("MTIz", Base64Padding::Optional)), "123");
  EXPECT_EQ(s(*decode_base64("MTI=", Base64Padding::Optional)), "12");
  EXPECT_EQ(s(*decode_base64("MQ", Base64Padding::Optional)), "1");
  EXPECT_EQ(s(*decode_base64("", Base64Padding::Optional)), "");
  EXPECT_EQ(s(*decode_base64("aGVs\nbG8=", Base64Padding::Optional)), "hello");
  EXPECT_FALSE(decode_base64("M", Base64Padding::Optional));
  EXPECT_FALSE(decode_base64("MQ==MQ", Base64Padding::Optional));
}

}  // namespace
}  // namespace nbd::plugins
