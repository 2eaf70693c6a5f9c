// SPDX-License-Identifier: BSD-3-Clause
// linuxdisk plugin through the plugin API; the filesystem it serves is checked with e2fsck,
// debugfs and dumpe2fs, the partition table with sfdisk.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "fixtures/scratch.h"
#include "nbd/plugin.h"

namespace nbd::plugins {
extern const PluginInfo linuxdisk_plugin_info;
namespace {

using nbd::testing::run_output;

class LinuxdiskTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/linuxdisktest.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ::setenv("TMPDIR", dir_.c_str(), 1);
    ASSERT_EQ(std::system(("mkdir -p " + dir_ + "/tree/sub && head -c 300000 /dev/urandom > " + dir_ +
                           "/tree/sub/blob && ln -s sub/blob " + dir_ + "/tree/link")
                              .c_str()),
              0);
    std::ofstream(dir_ + "/tree/hello.txt") << "hello linuxdisk\n";
  }
  void TearDown() override { (void)!std::system(("rm -rf " + dir_).c_str()); }
  // Serves the disk with the given parameters and saves the disk and its partition 1.
  void serve(std::vector<std::pair<std::string, std::string>> kv) {
    auto p = linuxdisk_plugin_info.factory();
    ASSERT_TRUE(p->config("dir", dir_ + "/tree"));
    for (auto& [k, v] : kv) ASSERT_TRUE(p->config(k, v));
    ASSERT_TRUE(p->config_complete());
    auto r = p->get_ready();
    ASSERT_TRUE(r) << r.error().message;
    auto c = p->open(OpenParams{});
    ASSERT_TRUE(c);
    EXPECT_FALSE(*(*c)->can_write());
    ASSERT_TRUE(nbd::testing::save_export(**c, disk()));
    ASSERT_EQ(std::system(("dd if=" + disk() + " of=" + fs() + " bs=1M skip=1 status=none").c_str()), 0);
  }
  std::string disk() { return dir_ + "/disk.img"; }
  std::string fs() { return dir_ + "/fs.img"; }
  std::string dir_;
};

TEST_F(LinuxdiskTest, Ext2IsCleanAndHoldsTheFiles) {
  serve({{"label", "ROOTFS"}});
  EXPECT_EQ(std::system(("e2fsck -fn " + fs() + " >/dev/null 2>&1").c_str()), 0);
  EXPECT_EQ(run_output("debugfs -R 'cat /hello.txt' " + fs() + " 2>/dev/null"), "hello linuxdisk\n");
  EXPECT_EQ(run_output("debugfs -R 'dump /sub/blob " + dir_ + "/blob' " + fs() + " >/dev/null 2>&1; cmp " +
                       dir_ + "/blob " + dir_ + "/tree/sub/blob && echo same"),
            "same\n");
  EXPECT_NE(
      run_output("debugfs -R 'stat /link' " + fs() + " 2>/dev/null").find("Fast link dest: \"sub/blob\""),
      std::string::npos);
  EXPECT_NE(run_output("dumpe2fs -h " + fs() + " 2>/dev/null").find("Filesystem volume name:   ROOTFS"),
            std::string::npos);
  EXPECT_NE(run_output("sfdisk -d " + disk()).find("start=        2048"), std::string::npos);
  EXPECT_EQ(run_output("ls " + dir_ + " | grep -c nbdkitlinuxdisk"), "0\n");  // temp file is unlinked
}

TEST_F(LinuxdiskTest, Ext4WithFreeSpace) {
  serve({{"type", "ext4"}, {"size", "+8M"}});
  EXPECT_EQ(std::system(("e2fsck -fn " + fs() + " >/dev/null 2>&1").c_str()), 0);
  auto info = run_output("dumpe2fs -h " + fs() + " 2>/dev/null");
  EXPECT_NE(info.find("has_journal"), std::string::npos);
  EXPECT_NE(info.find("extent"), std::string::npos);
  auto at = info.find("Free blocks:");
  ASSERT_NE(at, std::string::npos);
  EXPECT_GE(std::stoull(info.substr(at + 12)) * 4096, 8u << 20);
}

TEST_F(LinuxdiskTest, ExactSizeIsUsedOrRefused) {
  serve({{"size", "20M"}});
  EXPECT_EQ(std::stoull(run_output("stat -c %s " + disk())),
            (1u << 20) + (20u << 20) + 33 * 512);  // as upstream
  auto p = linuxdisk_plugin_info.factory();
  ASSERT_TRUE(p->config("dir", dir_ + "/tree"));
  ASSERT_TRUE(p->config("size", "64K"));
  ASSERT_TRUE(p->config_complete());
  auto r = p->get_ready();
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("mke2fs"), std::string::npos) << r.error().message;
  EXPECT_FALSE(p->config("type", "xfs"));
  EXPECT_FALSE(linuxdisk_plugin_info.factory()->config_complete());
}

}  // namespace
}  // namespace nbd::plugins
