// SPDX-License-Identifier: BSD-3-Clause
// ondemand plugin through the plugin API: exports are created once and persist, are locked
// while open, are listed, and bad export names are refused.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "nbd/plugin.h"

namespace nbd::plugins {
extern const PluginInfo ondemand_plugin_info;
namespace {

class OndemandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ondemandtest.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ASSERT_EQ(::mkdir((dir_ + "/exports").c_str(), 0700), 0);
    p_ = ondemand_plugin_info.factory();
    ASSERT_TRUE(p_->config("dir", dir_ + "/exports"));
    ASSERT_TRUE(p_->config("log", dir_ + "/runs"));
    ASSERT_TRUE(p_->config("size", "1M"));
    // A cheap "filesystem": the command records how often it ran.
    ASSERT_TRUE(p_->config("command", "truncate -s $size \"$disk\" && echo \"$disk\" >> \"$log\""));
    ASSERT_TRUE(p_->config_complete());
  }
  void TearDown() override { (void)!std::system(("rm -rf " + dir_).c_str()); }
  Result<std::unique_ptr<Connection>> open(const std::string& name) {
    OpenParams op{.export_name = name};
    return p_->open(op);
  }
  std::unique_ptr<Plugin> p_;
  std::string dir_;
};

TEST_F(OndemandTest, ExportsPersistAndAreListed) {
  {
    auto c = open("alpha");
    ASSERT_TRUE(c);
    EXPECT_EQ(*(*c)->get_size(), 1u << 20);
    std::vector<std::byte> w(512, std::byte{'A'});
    ASSERT_TRUE((*c)->pwrite(w, 0, 0));
  }
  auto again = open("alpha");
  ASSERT_TRUE(again);
  std::vector<std::byte> r(512);
  ASSERT_TRUE((*again)->pread(r, 0, 0));
  EXPECT_EQ(r, std::vector<std::byte>(512, std::byte{'A'}));
  ASSERT_TRUE(open(""));  // the default export is the file "default"
  auto list = p_->list_exports(false, false);
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].name, "alpha");
  EXPECT_EQ((*list)[1].name, "default");
  EXPECT_EQ(std::system(("test $(wc -l < " + dir_ + "/runs) -eq 2").c_str()), 0);  // alpha made once
}

TEST_F(OndemandTest, BusyExportIsRefused) {
  auto a = open("beta");
  ASSERT_TRUE(a);
  auto b = open("beta");
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error().errnum, EBUSY);
  EXPECT_EQ(b.error().message, "filesystem is locked by another client");
  a->reset();
  EXPECT_TRUE(open("beta"));
}

TEST_F(OndemandTest, WaitTrueWaitsForTheLock) {
  ASSERT_TRUE(p_->config("wait", "true"));
  auto a = open("gamma");
  ASSERT_TRUE(a);
  Result<std::unique_ptr<Connection>> b = make_error(EIO, "not run");
  std::thread t([&] { b = open("gamma"); });  // blocks in flock until a is closed
  a->reset();
  t.join();
  EXPECT_TRUE(b) << b.error().message;
}

TEST_F(OndemandTest, BadNamesAndConfigAreRefused) {
  for (const char* bad : {"../etc", "a.b", "x:y", "has/slash", ".hidden"}) EXPECT_FALSE(open(bad)) << bad;
  EXPECT_FALSE(open(std::string(300, 'n')));
  auto q = ondemand_plugin_info.factory();
  EXPECT_FALSE(q->config_complete());  // no dir
  ASSERT_TRUE(q->config("dir", dir_ + "/nope"));
  ASSERT_TRUE(q->config("size", "1M"));
  EXPECT_FALSE(q->config_complete());
  EXPECT_FALSE(q->config("wait", "perhaps"));
}

}  // namespace
}  // namespace nbd::plugins
