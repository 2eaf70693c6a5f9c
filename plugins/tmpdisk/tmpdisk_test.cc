// SPDX-License-Identifier: BSD-3-Clause
// tmpdisk plugin through the plugin API: each open gets its own fresh disk, made by mkfs or
// by command= with the other parameters as shell variables.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "disk/mkfs.h"
#include "nbd/plugin.h"

namespace nbd::plugins {
extern const PluginInfo tmpdisk_plugin_info;
namespace {

class TmpdiskTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tmpdisktest.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ::setenv("TMPDIR", dir_.c_str(), 1);
  }
  void TearDown() override { (void)!std::system(("rm -rf " + dir_).c_str()); }
  std::string dir_;
};

TEST_F(TmpdiskTest, EachClientGetsItsOwnExt4) {
  auto p = tmpdisk_plugin_info.factory();
  ASSERT_TRUE(p->config("size", "16M"));
  ASSERT_TRUE(p->config("label", "TMPL"));
  ASSERT_TRUE(p->config_complete());
  auto a = p->open(OpenParams{});
  auto b = p->open(OpenParams{});
  ASSERT_TRUE(a);
  ASSERT_TRUE(b);
  EXPECT_EQ(*(*a)->get_size(), 16u << 20);
  std::vector<std::byte> sb(1024);
  ASSERT_TRUE((*a)->pread(sb, 1024, 0));
  EXPECT_EQ(sb[0x38], std::byte{0x53});  // ext superblock magic 0xEF53
  EXPECT_EQ(sb[0x39], std::byte{0xef});
  EXPECT_EQ(std::memcmp(&sb[0x78], "TMPL", 5), 0);  // volume name
  std::vector<std::byte> w(4096, std::byte{0x77});
  ASSERT_TRUE((*a)->pwrite(w, 8 << 20, 0));
  std::vector<std::byte> r(4096);
  ASSERT_TRUE((*b)->pread(r, 8 << 20, 0));
  EXPECT_NE(r, w);                                                        // b's disk is not a's
  EXPECT_EQ(std::system(("test -z \"$(ls " + dir_ + ")\"").c_str()), 0);  // nothing left in TMPDIR
}

TEST_F(TmpdiskTest, CommandSeesVariables) {
  auto p = tmpdisk_plugin_info.factory();
  ASSERT_TRUE(p->config("size", "1M"));
  ASSERT_TRUE(p->config("greeting", "it's here"));
  ASSERT_TRUE(p->config("command", "printf '%s/%s' \"$greeting\" \"$size\" > \"$disk\""));
  ASSERT_TRUE(p->config_complete());
  auto c = p->open(OpenParams{});
  ASSERT_TRUE(c);
  std::string want = "it's here/1048576";
  ASSERT_EQ(*(*c)->get_size(), want.size());
  std::vector<std::byte> buf(want.size());
  ASSERT_TRUE((*c)->pread(buf, 0, 0));
  EXPECT_EQ(std::string(reinterpret_cast<char*>(buf.data()), buf.size()), want);
}

TEST_F(TmpdiskTest, ErrorsAreReported) {
  auto p = tmpdisk_plugin_info.factory();
  EXPECT_FALSE(p->config_complete());  // size is required
  EXPECT_FALSE(p->config("bad-name", "x"));
  EXPECT_FALSE(p->config("disk", "x"));
  ASSERT_TRUE(p->config("size", "1M"));
  ASSERT_TRUE(p->config("command", "exit 3"));
  auto c = p->open(OpenParams{});
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("exit status 3"), std::string::npos);
}

}  // namespace
}  // namespace nbd::plugins
