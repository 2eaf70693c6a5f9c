// SPDX-License-Identifier: BSD-3-Clause
// rotational filter against the in-memory fake disk: the flag is what the parameter says,
// whatever the plugin answers, and nothing else changes.
#include <gtest/gtest.h>

#include "fixtures/fake_disk.h"

namespace nbd::filters {
extern const FilterInfo rotational_filter_info;
namespace {

using namespace nbd::testing;  // FakeDisk, configure, open_over, bytes_of

struct Case {
  std::vector<std::pair<std::string, std::string>> kv;
  bool plugin, want;
};

TEST(RotationalFilter, OverridesThePlugin) {
  const Case table[] = {
      {{}, false, true},
      {{}, true, true},
      {{{"rotational", "true"}}, false, true},
      {{{"rotational", "false"}}, true, false},
      {{{"rotational", "off"}}, false, false},
      {{{"rotational", "0"}, {"rotational", "yes"}}, false, true},
  };
  for (const auto& t : table) {
    FakeCaps caps;
    caps.rotational = t.plugin;
    FakeDisk disk(100, caps);
    auto f = rotational_filter_info.factory();
    ASSERT_TRUE(configure(*f, t.kv));
    auto c = open_over(*f, disk);
    ASSERT_TRUE(c);
    EXPECT_EQ(*(*c)->is_rotational(), t.want) << "plugin " << t.plugin << ", " << t.kv.size() << " settings";
  }
}

TEST(RotationalFilter, EverythingElsePassesThrough) {
  FakeCaps caps;
  caps.multi_conn = false;
  caps.description = "d";
  FakeDisk disk(100, caps);
  auto f = rotational_filter_info.factory();
  ASSERT_TRUE(configure(*f, {{"rotational", "false"}}));
  auto c = open_over(*f, disk);
  ASSERT_TRUE(c);
  EXPECT_FALSE(*(*c)->can_multi_conn());
  EXPECT_EQ(*(*c)->export_description(), "d");
  auto data = bytes_of("spin");
  ASSERT_TRUE((*c)->pwrite(data, 50, 0));
  std::vector<std::byte> buf(4);
  ASSERT_TRUE((*c)->pread(buf, 50, 0));
  EXPECT_EQ(buf, data);
}

TEST(RotationalFilter, RejectsBadValuesAndLeavesOtherKeys) {
  auto f = rotational_filter_info.factory();
  auto r = f->config("rotational", "sometimes");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("rotational"), std::string::npos);
  EXPECT_FALSE(*f->config("size", "1"));
}

}  // namespace
}  // namespace nbd::filters
