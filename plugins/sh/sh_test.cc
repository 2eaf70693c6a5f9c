// SPDX-License-Identifier: BSD-3-Clause
// sh plugin objects driven directly (no sockets); each test runs a real shell script.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "nbd/plugin.h"

namespace nbd::plugins {
extern const PluginInfo sh_plugin_info;
namespace {

// A disk backed by the file given as file=..., with per-call logging into $tmpdir.
constexpr const char* kFileScript = R"x(#!/bin/sh
f=$tmpdir/disk
case "$1" in
  config) [ "$2" = file ] || { echo "EINVAL unknown key $2" >&2; exit 1; }
          ln -sf "$(realpath "$3")" "$f" ;;
  open) echo "h-$2-$3" ;;
  get_size) stat -Lc %s "$f" ;;
  can_write|can_flush) exit 0 ;;
  can_trim) exit 3 ;;
  pread) [ "$2" = "h-false-exp" ] || exit 1
         dd if="$f" skip=$4 count=$3 iflag=count_bytes,skip_bytes status=none ;;
  pwrite) echo "$5" > "$tmpdir/flags"
          dd of="$f" seek=$4 conv=notrunc oflag=seek_bytes status=none ;;
  flush) echo "ENOSPC disk full" >&2; exit 1 ;;
  thread_model) echo parallel ;;
  dump_plugin) echo "sh_test=1" ;;
  *) exit 2 ;;
esac
)x";

class ShPluginTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char d[] = "/tmp/nbdshtestXXXXXX";
    ASSERT_TRUE(mkdtemp(d));
    dir_ = d;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& text, int mode = 0700) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    chmod(path.c_str(), mode);
    return path;
  }
  std::string dir_;
};

TEST_F(ShPluginTest, ServesAndWritesAFile) {
  std::string disk = write("disk.img", std::string(8192, 'a'), 0600);
  auto p = sh_plugin_info.factory();
  ASSERT_TRUE(p->config("script", write("file.sh", kFileScript)));
  ASSERT_TRUE(p->config("file", disk));
  ASSERT_TRUE(p->config_complete());
  EXPECT_EQ(p->thread_model(), ThreadModel::Parallel);
  OpenParams op{.export_name = "exp"};
  auto c = p->open(op);
  ASSERT_TRUE(c) << c.error().message;
  Connection& conn = **c;
  EXPECT_EQ(*conn.get_size(), 8192u);
  EXPECT_TRUE(*conn.can_write());
  EXPECT_FALSE(*conn.can_trim());                // exit 3
  EXPECT_FALSE(*conn.can_extents());             // missing: sh cannot know, so false
  EXPECT_EQ(*conn.can_fua(), FuaMode::Emulate);  // missing, but can_flush is true
  std::string data = "hello, script";
  ASSERT_TRUE(conn.pwrite(std::as_bytes(std::span(data)), 4000, kFua));
  std::vector<std::byte> buf(32);
  ASSERT_TRUE(conn.pread(buf, 3990, 0));
  std::string got(reinterpret_cast<char*>(buf.data()), buf.size());
  EXPECT_EQ(got, std::string(10, 'a') + data + std::string(32 - 10 - data.size(), 'a'));
  std::ifstream flags(dir_ + "/disk.img");  // the file itself changed
  std::string all((std::istreambuf_iterator<char>(flags)), {});
  EXPECT_EQ(all.substr(4000, data.size()), data);
  auto fl = conn.flush(0);
  ASSERT_FALSE(fl);
  EXPECT_EQ(fl.error().errnum, ENOSPC);
  EXPECT_EQ(fl.error().message, dir_ + "/file.sh: disk full");
  auto dump = p->dump_plugin();
  EXPECT_NE(std::find(dump.begin(), dump.end(), "sh_test=1"), dump.end());
}

TEST_F(ShPluginTest, ScriptErrorsReachTheCaller) {
  auto p = sh_plugin_info.factory();
  std::string s = write("err.sh",
                        "#!/bin/sh\ncase $1 in get_size) echo 1M;; pread) echo 'EIO boom' >&2; exit 1;;"
                        " can_write) exit 3;; *) exit 2;; esac\n");
  ASSERT_TRUE(p->config("script", s));
  ASSERT_TRUE(p->config_complete());
  auto c = p->open(OpenParams{});
  ASSERT_TRUE(c);
  EXPECT_EQ(*(*c)->get_size(), 1u << 20);
  EXPECT_FALSE(*(*c)->can_write());
  std::vector<std::byte> buf(512);
  auto r = (*c)->pread(buf, 0, 0);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().errnum, EIO);
  EXPECT_EQ(r.error().message, s + ": boom");
}

TEST_F(ShPluginTest, MissingRequiredMethodsAndShortReads) {
  auto p = sh_plugin_info.factory();
  std::string s = write("bare.sh", "#!/bin/sh\ncase $1 in pread) printf abc;; *) exit 2;; esac\n");
  ASSERT_TRUE(p->config("script", s));
  ASSERT_TRUE(p->config_complete());
  auto c = p->open(OpenParams{});
  ASSERT_TRUE(c);
  auto size = (*c)->get_size();
  ASSERT_FALSE(size);
  EXPECT_EQ(size.error().message, s + ": the get_size method is required");
  std::vector<std::byte> buf(4);
  auto r = (*c)->pread(buf, 0, 0);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("expecting 4 bytes but received 3 bytes"), std::string::npos);
  EXPECT_EQ((*c)->zero(512, 0, 0).error().errnum, ENOTSUP);  // lets the core fall back to pwrite
}

TEST_F(ShPluginTest, TmpdirExistsUntilUnload) {
  auto p = sh_plugin_info.factory();
  std::string s =
      write("t.sh", "#!/bin/sh\n[ \"$1\" = get_ready ] && echo \"$tmpdir\" > " + dir_ + "/where\nexit 0\n");
  ASSERT_TRUE(p->config("script", s));
  ASSERT_TRUE(p->config_complete());
  ASSERT_TRUE(p->get_ready());
  std::string tmpdir;
  std::ifstream(dir_ + "/where") >> tmpdir;
  ASSERT_FALSE(tmpdir.empty());
  EXPECT_TRUE(std::filesystem::is_directory(tmpdir));
  p->unload();
  EXPECT_FALSE(std::filesystem::exists(tmpdir));
}

TEST_F(ShPluginTest, ConfigurationErrors) {
  auto p = sh_plugin_info.factory();
  auto first = p->config("file", "x");
  ASSERT_FALSE(first);
  EXPECT_NE(first.error().message.find("script="), std::string::npos);
  EXPECT_FALSE(p->config_complete());
  auto noexec = sh_plugin_info.factory()->config("script", write("plain.sh", "exit 0\n", 0600));
  ASSERT_FALSE(noexec);
  EXPECT_NE(noexec.error().message.find("not executable"), std::string::npos);
  EXPECT_FALSE(sh_plugin_info.factory()->config("script", dir_ + "/nonexistent"));
  auto q = sh_plugin_info.factory();
  ASSERT_TRUE(q->config("script", write("noconf.sh", "#!/bin/sh\nexit 2\n")));
  auto unneeded = q->config("a", "b");
  ASSERT_FALSE(unneeded);
  EXPECT_NE(unneeded.error().message.find("does not need command line configuration"), std::string::npos);
}

TEST_F(ShPluginTest, LoadAndMagicConfigKey) {
  auto p = sh_plugin_info.factory();
  std::string log = dir_ + "/calls";
  std::string s =
      write("magic.sh", "#!/bin/sh\necho \"$*\" >> " + log +
                            "\ncase $1 in magic_config_key) echo file;; config) exit 0;; *) exit 2;; esac\n");
  ASSERT_TRUE(p->config("script", s));
  ASSERT_TRUE(p->config("script", "a.img"));  // a later bare word, as upstream's server passes it
  ASSERT_TRUE(p->config("size", "1M"));
  std::ifstream f(log);
  std::string all((std::istreambuf_iterator<char>(f)), {});
  EXPECT_EQ(all, "load\nmagic_config_key\nconfig file a.img\nconfig size 1M\n");
}

}  // namespace
}  // namespace nbd::plugins
