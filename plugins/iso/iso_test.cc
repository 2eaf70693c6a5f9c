// SPDX-License-Identifier: BSD-3-Clause
// iso plugin through the plugin API: the image it serves is read back with isoinfo.
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
extern const PluginInfo iso_plugin_info;
namespace {

using nbd::testing::run_output;

class IsoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/isotest.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ::setenv("TMPDIR", dir_.c_str(), 1);
    ASSERT_EQ(std::system(("mkdir -p " + dir_ + "/a/sub " + dir_ + "/b").c_str()), 0);
    std::ofstream(dir_ + "/a/hello.txt") << "hello iso\n";
    std::ofstream(dir_ + "/a/sub/deep.txt") << "deep\n";
    std::ofstream(dir_ + "/b/other.txt") << "other\n";
  }
  void TearDown() override { (void)!std::system(("rm -rf " + dir_).c_str()); }
  // Serves the image and saves it to a file for isoinfo.
  std::string save(Plugin& p) {
    auto c = p.open(OpenParams{});
    EXPECT_TRUE(c);
    EXPECT_FALSE(*(*c)->can_write());
    std::string path = dir_ + "/out.iso";
    EXPECT_TRUE(nbd::testing::save_export(**c, path));
    return path;
  }
  std::string dir_;
};

TEST_F(IsoTest, MergesDirectoriesWithVolumeId) {
  for (const char* prog : {"xorriso", "genisoimage"}) {
    auto p = iso_plugin_info.factory();
    ASSERT_TRUE(p->config("dir", dir_ + "/a"));
    ASSERT_TRUE(p->config("dir", dir_ + "/b"));
    ASSERT_TRUE(p->config("params", "-J -r -V 'MY VOL'"));
    ASSERT_TRUE(p->config("prog", prog));
    ASSERT_TRUE(p->config_complete());
    ASSERT_TRUE(p->get_ready()) << prog;
    auto iso = save(*p);
    EXPECT_EQ(run_output("isoinfo -R -f -i " + iso + " | sort"),
              "/hello.txt\n/other.txt\n/sub\n/sub/deep.txt\n")
        << prog;
    EXPECT_EQ(run_output("isoinfo -R -i " + iso + " -x /sub/deep.txt"), "deep\n") << prog;
    EXPECT_NE(run_output("isoinfo -d -i " + iso).find("Volume id: MY VOL"), std::string::npos) << prog;
  }
  // The temporary image is unlinked once open.
  EXPECT_EQ(run_output("ls " + dir_ + " | grep -c nbdkitiso"), "0\n");
}

TEST_F(IsoTest, FailuresAreReported) {
  auto p = iso_plugin_info.factory();
  EXPECT_FALSE(p->config_complete());  // no dir
  ASSERT_TRUE(p->config("dir", dir_ + "/a"));
  ASSERT_TRUE(p->config("prog", "false"));
  ASSERT_TRUE(p->config_complete());
  auto r = p->get_ready();
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("exit status 1"), std::string::npos) << r.error().message;
  auto q = iso_plugin_info.factory();
  ASSERT_TRUE(q->config("dir", dir_ + "/missing"));
  auto m = q->config_complete();
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().message.find("missing"), std::string::npos);
}

}  // namespace
}  // namespace nbd::plugins
