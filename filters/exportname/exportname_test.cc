// SPDX-License-Identifier: BSD-3-Clause
// exportname filter against a fake layer below: the list, default export, strict refusal and
// descriptions it produces, as upstream's 1.32 does for the same settings.
#include <gtest/gtest.h>

#include "fixtures/fake_disk.h"

namespace nbd::filters {
extern const FilterInfo exportname_filter_info;
namespace {

using namespace nbd::testing;  // FakeDisk, configure, open_layer

using KV = std::vector<std::pair<std::string, std::string>>;

// The layer below: two exports with descriptions, "b" its default.
const NextExports kBelow{
    [](bool, bool) -> Result<std::vector<ExportInfo>> {
      return std::vector<ExportInfo>{{"b", "plugin's b"}, {"a", ""}};
    },
    [](bool, bool) -> Result<std::string> { return std::string("b"); },
};

std::unique_ptr<Filter> make(const KV& kv) {
  auto f = exportname_filter_info.factory();
  auto s = configure(*f, kv);
  EXPECT_TRUE(s) << (s ? "" : s.error().message);
  return f;
}

std::string listing(Filter& f) {
  auto l = f.list_exports(false, false, kBelow);
  if (!l) return "error " + std::to_string(l.error().errnum) + ": " + l.error().message;
  std::string s;
  for (const auto& e : *l) s += "[" + e.name + "|" + e.description + "]";
  return s;
}

TEST(ExportnameFilter, ListModes) {
  EXPECT_EQ(listing(*make({})), "[b|plugin's b][a|]");
  EXPECT_EQ(listing(*make({{"exportname-list", "keep"}, {"exportname", "z"}})), "[b|plugin's b][a|]");
  EXPECT_EQ(listing(*make({{"exportname-list", "error"}})),
            "error 1: exportname: export list restricted by policy");
  EXPECT_EQ(listing(*make({{"exportname-list", "empty"}})), "");
  EXPECT_EQ(listing(*make({{"exportname-list", "defaultonly"}})), "[b|]");
  EXPECT_EQ(listing(*make({{"exportname-list", "defaultonly"}, {"default-export", "a"}})), "[a|]");
  EXPECT_EQ(
      listing(*make(
          {{"exportname-list", "explicit"}, {"exportname", "x"}, {"exportname", "a"}, {"exportname", "a"}})),
      "[x|][a|][a|]");
  EXPECT_EQ(listing(*make({{"exportname-list", "explicit"}})), "");
}

TEST(ExportnameFilter, Descriptions) {
  EXPECT_EQ(listing(*make({{"exportdesc", "none"}})), "[b|][a|]");
  EXPECT_EQ(listing(*make({{"exportdesc", "fixed:same for all"}})), "[b|same for all][a|same for all]");
  EXPECT_EQ(listing(*make({{"exportdesc", "fixed:x"}, {"exportdesc", "keep"}})), "[b|plugin's b][a|]");
  EXPECT_EQ(listing(*make({{"exportdesc", "script:printf '<%s>\\n\\n' \"$name\""},
                           {"exportname-list", "explicit"},
                           {"exportname", "it's $(x)"}})),
            "[it's $(x)|<it's $(x)>\n]")
      << "one trailing newline is dropped; the name is data, never shell code";
  EXPECT_EQ(listing(*make({{"exportdesc", "script:echo partial; exit 3"}})), "[b|][a|]")
      << "a failing script gives no description";
}

TEST(ExportnameFilter, DefaultExport) {
  EXPECT_EQ(*make({})->default_export(false, false, kBelow), "b");
  EXPECT_EQ(*make({{"default-export", "a"}})->default_export(false, false, kBelow), "a");
  EXPECT_EQ(*make({{"default-export", ""}})->default_export(false, false, kBelow), "b")
      << "an empty default-export is the same as none";
  auto strict = make({{"exportname-strict", "true"}, {"exportname", "a"}, {"default-export", "a"}});
  auto r = strict->default_export(false, false, kBelow);
  ASSERT_FALSE(r) << "strict refuses \"\" unless exportname= lists it";
  EXPECT_EQ(r.error().errnum, ENOENT);
  auto listed = make({{"exportname-strict", "1"}, {"exportname", ""}, {"default-export", "a"}});
  EXPECT_EQ(*listed->default_export(false, false, kBelow), "a");
}

struct Opened {
  Result<std::unique_ptr<Connection>> conn = make_error(EIO, "not opened");
  std::string asked;  // the name the filter asked the layer below for
};

Opened open_named(Filter& f, FakeDisk& disk, const std::string& name) {
  Opened o;
  NextOpen below = [&](const OpenParams& p) {
    o.asked = p.export_name;
    return open_layer(disk, p);
  };
  o.conn = f.open(OpenParams{.export_name = name}, below);
  return o;
}

TEST(ExportnameFilter, StrictAllowsOnlyListedNames) {
  FakeDisk disk(10);
  auto f = make({{"exportname-strict", "true"}, {"exportname", "a"}, {"exportname", "b"}});
  EXPECT_TRUE(open_named(*f, disk, "a").conn);
  auto o = open_named(*f, disk, "x");
  ASSERT_FALSE(o.conn);
  EXPECT_EQ(o.conn.error().errnum, ENOENT);
  EXPECT_EQ(o.conn.error().message, "exportname: export 'x' not found");
  EXPECT_EQ(o.asked, "") << "a refused name never reaches the plugin";
  EXPECT_FALSE(open_named(*f, disk, "").conn);
  EXPECT_EQ(disk.opens(), 1);
  // Not strict: any name goes through, listed or not.
  auto loose = make({{"exportname", "a"}});
  auto l = open_named(*loose, disk, "x");
  EXPECT_TRUE(l.conn);
  EXPECT_EQ(l.asked, "x");
}

TEST(ExportnameFilter, OpenUsesTheDefaultExportForTheEmptyName) {
  FakeDisk disk(10);
  auto f = make({{"default-export", "a"}});
  auto o = open_named(*f, disk, "");
  ASSERT_TRUE(o.conn);
  EXPECT_EQ(o.asked, "a");
  EXPECT_EQ(open_named(*f, disk, "b").asked, "b");
}

TEST(ExportnameFilter, InfoDescription) {
  FakeCaps caps;
  caps.description = "from the plugin";
  FakeDisk disk(10, caps);
  EXPECT_EQ(*(*open_named(*make({}), disk, "a").conn)->export_description(), "from the plugin");
  EXPECT_EQ(*(*open_named(*make({{"exportdesc", "none"}}), disk, "a").conn)->export_description(), "");
  EXPECT_EQ(*(*open_named(*make({{"exportdesc", "fixed:F"}}), disk, "a").conn)->export_description(), "F");
  auto f = make({{"exportdesc", "script:echo \"about $name\""}, {"default-export", "dflt"}});
  EXPECT_EQ(*(*open_named(*f, disk, "").conn)->export_description(), "about dflt");
}

TEST(ExportnameFilter, RejectsBadValuesAndLeavesOtherKeys) {
  auto f = exportname_filter_info.factory();
  auto r = f->config("exportname-list", "all");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("exportname-list=all"), std::string::npos);
  EXPECT_FALSE(f->config("exportname-strict", "maybe"));
  auto d = f->config("exportdesc", "bogus");
  ASSERT_FALSE(d);
  EXPECT_NE(d.error().message.find("exportdesc=bogus"), std::string::npos);
  EXPECT_FALSE(f->config("exportdesc", "Fixed:x")) << "mode names are case-sensitive, as upstream";
  EXPECT_FALSE(*f->config("export", "a"));
  EXPECT_FALSE(*f->config("size", "1"));
}

}  // namespace
}  // namespace nbd::filters
