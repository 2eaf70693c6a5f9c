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

}  // namespace
}  // namespace nbd::server
