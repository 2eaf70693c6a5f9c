// SPDX-License-Identifier: BSD-3-Clause
// The generated registry: built-ins are found by name, names are unique, errors name the thing.
#include "server/registry.h"

#include <gtest/gtest.h>

namespace nbd::server {
namespace {

TEST(Registry, FindsNullAndRejectsUnknown) {
  auto p = find_plugin("null");
  ASSERT_TRUE(p);
  EXPECT_EQ((*p)->name, "null");
  auto bad = find_plugin("no-such-plugin");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("no-such-plugin"), std::string::npos);
  auto badf = find_filter("no-such-filter");
  ASSERT_FALSE(badf);
  EXPECT_NE(badf.error().message.find("no-such-filter"), std::string::npos);
}

TEST(Registry, NamesAreUnique) {
  EXPECT_EQ(first_duplicate_name_for_test(builtin_plugins()), "");
  const PluginInfo* dup[] = {builtin_plugins()[0], builtin_plugins()[0]};
  EXPECT_EQ(first_duplicate_name_for_test(dup), std::string(builtin_plugins()[0]->name));
}

TEST(Registry, MissingSharedObjectIsAnError) {
  auto p = find_plugin("./does-not-exist.so");
  ASSERT_FALSE(p);
  EXPECT_NE(p.error().message.find("does-not-exist.so"), std::string::npos);
}

TEST(Registry, SharedObjectsBuiltAgainstOtherHeadersAreRefused) {
  EXPECT_TRUE(check_cpp_abi("a.so", "plugin", true, kCppAbiVersion, sizeof(PluginInfo), sizeof(PluginInfo)));
  auto old =
      check_cpp_abi("old.so", "plugin", true, kCppAbiVersion - 1, sizeof(PluginInfo), sizeof(PluginInfo));
  ASSERT_FALSE(old);
  EXPECT_NE(old.error().message.find("plugin 'old.so' was built against nbdkit++ C++ API version"),
            std::string::npos);
  EXPECT_FALSE(check_cpp_abi("b.so", "filter", true, kCppAbiVersion, 8, sizeof(FilterInfo)));
  auto none = check_cpp_abi("c.so", "filter", false, 0, 0, sizeof(FilterInfo));
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().message.find("no nbdkit++ API version record"), std::string::npos);
}

}  // namespace
}  // namespace nbd::server
