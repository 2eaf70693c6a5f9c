// SPDX-License-Identifier: BSD-3-Clause
// floppy plugin through the plugin API; the FAT32 it serves is checked with fsck.vfat and read
// back with mtools (mdir, mtype, mcopy), and short/long name rules are tested directly.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "disk/fat_names.h"
#include "fixtures/scratch.h"
#include "nbd/plugin.h"

namespace nbd::plugins {
extern const PluginInfo floppy_plugin_info;
namespace {

using nbd::testing::run_output;

class FloppyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/floppytest.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    std::string t = dir_ + "/tree";
    ASSERT_EQ(
        std::system(("mkdir -p '" + t + "/Sub Dir/empty' && head -c 100000 /dev/urandom > '" + t +
                     "/Sub Dir/A long file name.bin' && : > " + t + "/EMPTY.TXT && ln -s x " + t + "/link")
                        .c_str()),
        0);
    std::ofstream(t + "/hello.txt") << "hello floppy\n";
    std::ofstream(t + "/README") << "upper case 8.3\n";
  }
  void TearDown() override { (void)!std::system(("rm -rf " + dir_).c_str()); }
  // Serves the disk and saves its partition (at 1 MiB) as fs.img.
  Result<void> serve(std::vector<std::pair<std::string, std::string>> kv) {
    auto p = floppy_plugin_info.factory();
    EXPECT_TRUE(p->config("dir", dir_ + "/tree"));
    for (auto& [k, v] : kv) EXPECT_TRUE(p->config(k, v));
    EXPECT_TRUE(p->config_complete());
    NBD_TRY(p->get_ready());
    auto c = p->open(OpenParams{});
    EXPECT_TRUE(c);
    NBD_TRY_ASSIGN(size_, nbd::testing::save_export(**c, dir_ + "/disk.img"));
    EXPECT_EQ(std::system(("dd if=" + dir_ + "/disk.img of=" + fs() + " bs=1M skip=1 status=none").c_str()),
              0);
    return ok();
  }
  std::string fs() { return dir_ + "/fs.img"; }
  std::string mtools(const std::string& cmd) { return run_output("MTOOLS_SKIP_CHECK=1 " + cmd + " 2>&1"); }
  std::string dir_;
  uint64_t size_ = 0;
};

TEST_F(FloppyTest, FsckCleanAndFilesReadBack) {
  ASSERT_TRUE(serve({{"label", "MYFLOPPY"}}));
  EXPECT_EQ(std::system(("fsck.vfat -n " + fs() + " >/dev/null").c_str()), 0)
      << run_output("fsck.vfat -nv " + fs());
  EXPECT_EQ(mtools("mtype -i " + fs() + " ::/hello.txt"), "hello floppy\n");
  EXPECT_EQ(mtools("mtype -i " + fs() + " ::/README"), "upper case 8.3\n");
  EXPECT_EQ(mtools("mcopy -n -i " + fs() + " '::/Sub Dir/A long file name.bin' " + dir_ + "/out.bin && cmp " +
                   dir_ + "/out.bin '" + dir_ + "/tree/Sub Dir/A long file name.bin' && echo same"),
            "same\n");
  auto root = mtools("mdir -b -i " + fs() + " ::/");
  EXPECT_NE(root.find("::/hello.txt"), std::string::npos) << root;
  EXPECT_NE(root.find("::/EMPTY.TXT"), std::string::npos) << root;
  EXPECT_EQ(root.find("link"), std::string::npos) << root;  // symlinks are left out
  EXPECT_NE(mtools("mdir -i " + fs() + " ::/").find("Volume in drive : is MYFLOPPY"), std::string::npos);
  EXPECT_NE(mtools("mdir -i " + fs() + " '::/Sub Dir/empty'").find("2 files"),
            std::string::npos);  // . and ..
  EXPECT_NE(mtools("mdir -i " + fs() + " '::/Sub Dir/nothere'").find("not found"), std::string::npos);
  EXPECT_NE(run_output("sfdisk -d " + dir_ + "/disk.img").find("start=        2048, size="),
            std::string::npos);
}

TEST_F(FloppyTest, SizeParameter) {
  ASSERT_TRUE(serve({{"size", "64M"}}));
  EXPECT_EQ(size_, 64u << 20);
  EXPECT_EQ(std::system(("fsck.vfat -n " + fs() + " >/dev/null").c_str()), 0)
      << run_output("fsck.vfat -nv " + fs());
  auto r = serve({{"size", "4M"}});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("too small"), std::string::npos);
}

TEST_F(FloppyTest, EmptyDirectoryAndEmptyLabel) {
  ASSERT_EQ(std::system(("rm -rf " + dir_ + "/tree && mkdir " + dir_ + "/tree").c_str()), 0);
  ASSERT_TRUE(serve({{"label", ""}}));
  EXPECT_EQ(std::system(("fsck.vfat -n " + fs() + " >/dev/null").c_str()), 0)
      << run_output("fsck.vfat -nv " + fs());
  EXPECT_NE(mtools("mdir -i " + fs() + " ::/").find("No files"), std::string::npos);
}

TEST_F(FloppyTest, BadParameters) {
  auto p = floppy_plugin_info.factory();
  EXPECT_FALSE(p->config_complete());
  EXPECT_FALSE(p->config("label", "TWELVE CHARS"));
  ASSERT_TRUE(p->config("dir", dir_ + "/missing"));
  ASSERT_TRUE(p->config_complete());
  EXPECT_FALSE(p->get_ready());
}

TEST(FatNames, ShortAndLongNames) {
  fat::ShortName s;
  EXPECT_TRUE(fat::exact_short_name("README.TXT", s));
  EXPECT_EQ(std::string(s.begin(), s.end()), "README  TXT");
  EXPECT_FALSE(fat::exact_short_name("readme.txt", s));
  EXPECT_FALSE(fat::exact_short_name("A.B.C", s));
  EXPECT_FALSE(fat::exact_short_name("TOOLONGNAME", s));
  std::set<fat::ShortName> used;
  auto a = fat::generate_short_name("A long file name.bin", used);
  EXPECT_EQ(std::string(a.begin(), a.end()), "ALONGF~1BIN");
  used.insert(a);
  auto b = fat::generate_short_name("A long file name.bin2", used);
  EXPECT_EQ(std::string(b.begin(), b.end()), "ALONGF~2BIN");
  auto dot = fat::generate_short_name(".bashrc", used);
  EXPECT_EQ(std::string(dot.begin(), dot.end()), "BASHRC~1   ");
  EXPECT_EQ(fat::utf8_to_utf16("h\xc3\xa9\xf0\x9f\x98\x80"), std::u16string(u"h\u00e9\xd83d\xde00"));
  auto lfn = fat::lfn_entries("A long file name.bin", a);
  ASSERT_TRUE(lfn);
  ASSERT_EQ(lfn->size(), 2u);
  EXPECT_EQ((*lfn)[0][0], std::byte{0x42});  // last part first, with the 0x40 flag
  EXPECT_EQ((*lfn)[1][0], std::byte{0x01});
  EXPECT_FALSE(fat::lfn_entries(std::string(256, 'x'), a));
}

}  // namespace
}  // namespace nbd::plugins
