// SPDX-License-Identifier: BSD-3-Clause
// tls-fallback filter against the in-memory fake disk: plaintext opens never reach it.
#include <gtest/gtest.h>

#include <cstring>

#include "fixtures/fake_disk.h"

namespace nbd::filters {
extern const FilterInfo tls_fallback_filter_info;
namespace {

using namespace nbd::testing;

std::string read_all(Connection& c) {
  std::string s(512, 'x');
  EXPECT_TRUE(c.pread(std::as_writable_bytes(std::span<char>(s.data(), s.size())), 0, 0));
  return s;
}

TEST(TlsFallbackFilter, PlaintextGetsTheMessageAndNeverThePlugin) {
  FakeDisk disk(1 << 20);
  auto f = tls_fallback_filter_info.factory();
  ASSERT_TRUE(configure(*f, {}));
  auto c = open_over(*f, disk, OpenParams{.export_name = "secret", .is_tls = false});
  ASSERT_TRUE(c);
  EXPECT_EQ(*(*c)->get_size(), 512u);
  EXPECT_FALSE(*(*c)->can_write());
  std::string s = read_all(**c);
  const char* msg = "This NBD server requires TLS authentication before it will serve useful data.\n";
  EXPECT_EQ(s.substr(0, std::strlen(msg)), msg);
  EXPECT_EQ(s.substr(std::strlen(msg)), std::string(512 - std::strlen(msg), '\0'));
  EXPECT_TRUE(disk.calls().empty());
  EXPECT_EQ(disk.opens(), 0) << "the plugin was opened for a plaintext client";
}

TEST(TlsFallbackFilter, TlsClientsReachThePlugin) {
  FakeDisk disk(1 << 20);
  auto f = tls_fallback_filter_info.factory();
  ASSERT_TRUE(configure(*f, {{"tlsreadme", "hi"}}));
  auto c = open_over(*f, disk, OpenParams{.is_tls = true});
  ASSERT_TRUE(c);
  EXPECT_EQ(*(*c)->get_size(), uint64_t(1 << 20));
  EXPECT_EQ(disk.opens(), 1);
}

TEST(TlsFallbackFilter, MessageIsCutAt512AndPaddedWithNul) {
  FakeDisk disk(100);
  auto f = tls_fallback_filter_info.factory();
  ASSERT_TRUE(configure(*f, {{"tlsreadme", std::string(600, 'm')}}));
  auto c = open_over(*f, disk);
  EXPECT_EQ(read_all(**c), std::string(512, 'm'));
  auto g = tls_fallback_filter_info.factory();
  ASSERT_TRUE(configure(*g, {{"tlsreadme", "hi"}}));
  auto d = open_over(*g, disk);
  EXPECT_EQ(read_all(**d), "hi" + std::string(510, '\0'));
}

TEST(TlsFallbackFilter, RefusesSerializeConnections) {
  auto f = tls_fallback_filter_info.factory();
  auto s = f->get_ready(ThreadModel::SerializeConnections);
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("parallel connection"), std::string::npos);
  EXPECT_TRUE(f->get_ready(ThreadModel::SerializeRequests));
}

TEST(TlsFallbackFilter, PlaintextListsOnlyTheDefaultExport) {
  auto f = tls_fallback_filter_info.factory();
  NextExports next{[](bool, bool) {
                     return Result<std::vector<ExportInfo>>(std::vector<ExportInfo>{{"a", ""}, {"b", ""}});
                   },
                   [](bool, bool) { return Result<std::string>(std::string("a")); }};
  auto plain = f->list_exports(false, false, next);
  ASSERT_TRUE(plain);
  ASSERT_EQ(plain->size(), 1u);
  EXPECT_EQ((*plain)[0].name, "");
  EXPECT_EQ(*f->default_export(false, false, next), "");
  EXPECT_EQ(f->list_exports(false, true, next)->size(), 2u);
  EXPECT_EQ(*f->default_export(false, true, next), "a");
}

}  // namespace
}  // namespace nbd::filters
