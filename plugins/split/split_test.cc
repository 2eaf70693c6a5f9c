// SPDX-License-Identifier: BSD-3-Clause
// split plugin, called directly through the plugin API on temporary files (no sockets).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "nbd/plugin.h"

namespace nbd::plugins {
extern const PluginInfo split_plugin_info;
namespace {

class SplitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/splittest.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }
  // Writes a file of n bytes, byte i = (seed + i) % 251.
  std::string make_file(const std::string& name, size_t n, int seed) {
    std::string path = dir_ + "/" + name;
    std::ofstream f(path, std::ios::binary);
    for (size_t i = 0; i < n; i++) f.put(static_cast<char>((seed + i) % 251));
    return path;
  }
  std::string dir_;
};

TEST_F(SplitTest, ReadsAndWritesAcrossBoundaries) {
  auto p = split_plugin_info.factory();
  ASSERT_TRUE(p->config("file", make_file("a", 1000, 1)));
  ASSERT_TRUE(p->config("file", make_file("empty", 0, 0)));
  ASSERT_TRUE(p->config("file", make_file("b", 24, 7)));
  ASSERT_TRUE(p->config("file", make_file("c", 3000, 9)));
  ASSERT_TRUE(p->config_complete());
  auto c = p->open(OpenParams{});
  ASSERT_TRUE(c);
  EXPECT_EQ(*(*c)->get_size(), 4024u);
  std::vector<std::byte> buf(100);
  ASSERT_TRUE((*c)->pread(buf, 950, 0));
  for (size_t i = 0; i < 100; i++) {
    uint64_t o = 950 + i;
    int want = o < 1000 ? (1 + o) % 251 : o < 1024 ? (7 + o - 1000) % 251 : (9 + o - 1024) % 251;
    ASSERT_EQ(static_cast<int>(buf[i]), want) << "offset " << o;
  }
  std::vector<std::byte> w(60, std::byte{0xee});
  ASSERT_TRUE((*c)->pwrite(w, 990, 0));
  ASSERT_TRUE((*c)->flush(0));
  std::ifstream b(dir_ + "/b", std::ios::binary);
  std::string content((std::istreambuf_iterator<char>(b)), {});
  EXPECT_EQ(content, std::string(24, '\xee'));
}

TEST_F(SplitTest, ReadOnlyOpenRefusesWrites) {
  auto p = split_plugin_info.factory();
  ASSERT_TRUE(p->config("file", make_file("a", 512, 0)));
  ASSERT_TRUE(p->config_complete());
  OpenParams ro{.readonly = true};
  auto c = p->open(ro);
  ASSERT_TRUE(c);
  EXPECT_FALSE(*(*c)->can_write());
}

TEST_F(SplitTest, ExtentsReportHoles) {
  std::string a = dir_ + "/sparse";
  ASSERT_EQ(::truncate(make_file("sparse", 0, 0).c_str(), 1 << 20), 0);
  auto p = split_plugin_info.factory();
  ASSERT_TRUE(p->config("file", make_file("d", 4096, 3)));
  ASSERT_TRUE(p->config("file", a));
  ASSERT_TRUE(p->config_complete());
  auto c = p->open(OpenParams{});
  ASSERT_TRUE(c);
  ExtentList e(0, 4096 + (1 << 20));
  ASSERT_TRUE((*c)->extents(4096 + (1 << 20), 0, 0, e));
  ASSERT_EQ(e.extents().size(), 2u);
  EXPECT_EQ(e.extents()[0].flags, 0u);
  EXPECT_EQ(e.extents()[0].length, 4096u);
  EXPECT_EQ(e.extents()[1].flags, kExtentHole | kExtentZero);
}

TEST_F(SplitTest, MissingFileAndNoFilesAreErrors) {
  auto p = split_plugin_info.factory();
  EXPECT_FALSE(p->config_complete());
  ASSERT_TRUE(p->config("file", dir_ + "/nope"));
  ASSERT_TRUE(p->config_complete());
  auto c = p->open(OpenParams{});
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("nope"), std::string::npos);
  EXPECT_FALSE(p->config("colour", "red"));
}

}  // namespace
}  // namespace nbd::plugins
