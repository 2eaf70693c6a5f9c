// SPDX-License-Identifier: BSD-3-Clause
// file plugin through the plugin API on real files in a temp dir: I/O, holes, zero and trim,
// the three modes (file=, dir=, fd=) and their configuration errors.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "nbd/plugin.h"

namespace nbd::plugins {
extern const PluginInfo file_plugin_info;
namespace {

class FilePluginTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/filetest.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { ASSERT_EQ(std::system(("rm -rf " + dir_).c_str()), 0); }

  std::string make_file(const std::string& name, uint64_t size, uint8_t fill = 0) {
    std::string path = dir_ + "/" + name;
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
    EXPECT_GE(fd, 0);
    if (fill) {
      std::vector<char> b(size, static_cast<char>(fill));
      EXPECT_EQ(::write(fd, b.data(), b.size()), static_cast<ssize_t>(size));
    } else {
      EXPECT_EQ(ftruncate(fd, static_cast<off_t>(size)), 0);
    }
    ::close(fd);
    return path;
  }

  std::unique_ptr<Plugin> plugin(std::initializer_list<std::pair<std::string, std::string>> kv) {
    auto p = file_plugin_info.factory();
    for (auto& [k, v] : kv) EXPECT_TRUE(p->config(k, v)) << k << "=" << v;
    EXPECT_TRUE(p->config_complete());
    return p;
  }

  static std::unique_ptr<Connection> open(Plugin& p, std::string name = "", bool ro = false) {
    OpenParams op{.readonly = ro, .export_name = std::move(name)};
    auto c = p.open(op);
    EXPECT_TRUE(c) << (c ? "" : c.error().message);
    return c ? std::move(*c) : nullptr;
  }

  std::string dir_;
};

TEST_F(FilePluginTest, ReadWriteFlushReachTheFile) {
  std::string path = make_file("disk.img", 1 << 20, 0x11);
  auto p = plugin({{"file", path}, {"cache", "none"}, {"fadvise", "random"}});
  auto c = open(*p);
  ASSERT_TRUE(c);
  EXPECT_EQ(*c->get_size(), 1u << 20);
  EXPECT_TRUE(*c->can_write());
  std::vector<std::byte> w(10000, std::byte{0x22}), r(10002);
  ASSERT_TRUE(c->pwrite(w, 5000, kFua));
  ASSERT_TRUE(c->flush(0));
  ASSERT_TRUE(c->pread(r, 4999, 0));
  EXPECT_EQ(r.front(), std::byte{0x11});
  EXPECT_EQ(r[1], std::byte{0x22});
  EXPECT_EQ(r[10000], std::byte{0x22});
  EXPECT_EQ(r.back(), std::byte{0x11});
  int fd = ::open(path.c_str(), O_RDONLY);
  char b = 0;
  ASSERT_EQ(::pread(fd, &b, 1, 5000), 1);
  ::close(fd);
  EXPECT_EQ(b, 0x22);
}

TEST_F(FilePluginTest, ExtentsFollowHolesAndZeroTrimPunch) {
  std::string path = make_file("sparse.img", 4 << 20);
  auto p = plugin({{"file", path}});
  auto c = open(*p);
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->pwrite(std::vector<std::byte>(1 << 20, std::byte{7}), 1 << 20, 0));
  ExtentList e(0, 4 << 20);
  ASSERT_TRUE(c->extents(4 << 20, 0, 0, e));
  ASSERT_EQ(e.extents().size(), 3u);
  EXPECT_EQ(e.extents()[0].flags, kExtentHole | kExtentZero);
  EXPECT_EQ(e.extents()[1].offset, 1u << 20);
  EXPECT_EQ(e.extents()[1].length, 1u << 20);
  EXPECT_EQ(e.extents()[1].flags, 0u);
  ASSERT_TRUE(c->zero(65536, 1 << 20, 0));            // keeps allocation
  ASSERT_TRUE(c->trim(65536, (1 << 20) + 65536, 0));  // punches
  std::vector<std::byte> r(3 * 65536);
  ASSERT_TRUE(c->pread(r, 1 << 20, 0));
  for (size_t i = 0; i < r.size(); ++i) ASSERT_EQ(r[i], std::byte(i < 2 * 65536 ? 0 : 7)) << i;
  e.reset(1 << 20, 2 << 20);
  ASSERT_TRUE(c->extents(1 << 20, 1 << 20, kReqOne, e));
  ASSERT_EQ(e.extents().size(), 1u);
}

TEST_F(FilePluginTest, ReadOnlyOpenCannotWrite) {
  std::string path = make_file("ro.img", 4096, 0x33);
  auto p = plugin({{"file", path}});
  auto c = open(*p, "", true);
  ASSERT_TRUE(c);
  EXPECT_FALSE(*c->can_write());
  auto st = c->pwrite(std::vector<std::byte>(1), 0, 0);
  EXPECT_FALSE(st);
}

TEST_F(FilePluginTest, DirModeServesEachFileByName) {
  make_file("b.img", 1024, 0xbb);
  make_file("a.img", 2048, 0xaa);
  ASSERT_EQ(mkdir((dir_ + "/subdir").c_str(), 0755), 0);
  auto p = plugin({{"dir", dir_}});
  auto list = p->list_exports(false, false);
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].name, "a.img");
  EXPECT_EQ((*list)[1].name, "b.img");
  auto c = open(*p, "b.img");
  ASSERT_TRUE(c);
  EXPECT_EQ(*c->get_size(), 1024u);
  for (const char* bad : {"", "../etc/passwd", "subdir", "missing.img"}) {
    OpenParams op{.export_name = bad};
    EXPECT_FALSE(p->open(op)) << bad;
  }
}

TEST_F(FilePluginTest, FdModeDuplicatesTheDescriptor) {
  std::string path = make_file("fd.img", 8192, 0x44);
  int fd = ::open(path.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  auto p = plugin({{"fd", std::to_string(fd)}});
  {
    auto c = open(*p);
    ASSERT_TRUE(c);
    EXPECT_FALSE(*c->can_write());  // opened O_RDONLY
    std::vector<std::byte> r(2);
    ASSERT_TRUE(c->pread(r, 8190, 0));
    EXPECT_EQ(r[1], std::byte{0x44});
  }
  EXPECT_NE(fcntl(fd, F_GETFL), -1);  // still open after the client went away
  ::close(fd);
}

TEST_F(FilePluginTest, ConfigurationErrorsNameTheParameter) {
  struct Case {
    std::string key, value, mention;
  } cases[] = {
      {"file", dir_ + "/nope", "file=" + dir_ + "/nope"}, {"file", dir_, "is a directory"},
      {"dir", make_file("f", 1), "not a directory"},      {"fd", "987", "fd=987"},
      {"cache", "sometimes", "cache=sometimes"},          {"fadvise", "often", "fadvise=often"},
  };
  for (const auto& k : cases) {
    auto p = file_plugin_info.factory();
    auto st = p->config(k.key, k.value);
    ASSERT_FALSE(st) << k.key;
    EXPECT_NE(st.error().message.find(k.mention), std::string::npos) << st.error().message;
  }
  auto p = file_plugin_info.factory();
  EXPECT_FALSE(p->config_complete());
  ASSERT_TRUE(p->config("file", make_file("g", 1)));
  EXPECT_FALSE(p->config("dir", dir_));  // only one mode
}

}  // namespace
}  // namespace nbd::plugins
