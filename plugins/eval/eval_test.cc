// SPDX-License-Identifier: BSD-3-Clause
// eval plugin objects driven directly: fragments run by /bin/sh, can_* implied by the methods
// given, missing=, config= and the upstream file-serving example.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "nbd/plugin.h"

namespace nbd::plugins {
extern const PluginInfo eval_plugin_info;
namespace {

std::string read_file(const std::string& path) {
  std::ifstream f(path);
  return std::string((std::istreambuf_iterator<char>(f)), {});
}

TEST(EvalPlugin, UpstreamFileExampleReadsAndWrites) {
  char d[] = "/tmp/nbdevaltestXXXXXX";
  ASSERT_TRUE(mkdtemp(d));
  std::string disk = std::string(d) + "/disk.img";
  std::ofstream(disk) << std::string(4096, 'x');
  auto p = eval_plugin_info.factory();
  ASSERT_TRUE(p->config("config", R"x(ln -sf "$(realpath "$3")" $tmpdir/file)x"));
  ASSERT_TRUE(p->config("get_size", "stat -Lc %s $tmpdir/file"));
  ASSERT_TRUE(p->config("pread", "dd if=$tmpdir/file skip=$4 count=$3 iflag=count_bytes,skip_bytes"));
  ASSERT_TRUE(p->config("pwrite", "dd of=$tmpdir/file seek=$4 conv=notrunc oflag=seek_bytes"));
  ASSERT_TRUE(p->config("file", disk));
  ASSERT_TRUE(p->config_complete());
  auto c = p->open(OpenParams{});
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(*(*c)->get_size(), 4096u);
  EXPECT_TRUE(*(*c)->can_write());   // implied by pwrite=
  EXPECT_FALSE(*(*c)->can_flush());  // no flush=
  EXPECT_FALSE(*(*c)->can_trim());
  std::string data = "written by eval";
  ASSERT_TRUE((*c)->pwrite(std::as_bytes(std::span(data)), 100, 0));
  std::vector<std::byte> buf(data.size() + 2);
  ASSERT_TRUE((*c)->pread(buf, 99, 0));
  EXPECT_EQ(std::string(reinterpret_cast<char*>(buf.data()), buf.size()), "x" + data + "x");
  EXPECT_EQ(read_file(disk).substr(100, data.size()), data);
  c->reset();
  p->unload();
  std::filesystem::remove_all(d);
}

TEST(EvalPlugin, ExplicitAnswersAndMissing) {
  auto p = eval_plugin_info.factory();
  ASSERT_TRUE(p->config("get_size", "echo 64K"));
  ASSERT_TRUE(p->config("pwrite", "cat >/dev/null"));
  ASSERT_TRUE(p->config("can_write", "exit 3"));  // an explicit answer wins over pwrite=
  ASSERT_TRUE(p->config("missing", "case $1 in can_multi_conn) exit 0;; *) exit 2;; esac"));
  ASSERT_TRUE(p->config_complete());
  auto c = p->open(OpenParams{});
  ASSERT_TRUE(c);
  EXPECT_EQ(*(*c)->get_size(), 65536u);
  EXPECT_FALSE(*(*c)->can_write());
  EXPECT_TRUE(*(*c)->can_multi_conn());  // answered by missing=
  EXPECT_EQ(*(*c)->can_cache(), CacheMode::None);
}

TEST(EvalPlugin, ErrorsNameTheFragment) {
  auto p = eval_plugin_info.factory();
  ASSERT_TRUE(p->config("get_size", "echo 1M"));
  ASSERT_TRUE(p->config("pread", "echo 'EIO boom' >&2; exit 1"));
  auto c = p->open(OpenParams{});
  ASSERT_TRUE(c);
  std::vector<std::byte> buf(512);
  auto r = (*c)->pread(buf, 0, 0);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().errnum, EIO);
  EXPECT_TRUE(r.error().message.ends_with("/pread: boom")) << r.error().message;
}

TEST(EvalPlugin, UnknownKeyWithoutConfigAndMissingGetSize) {
  auto p = eval_plugin_info.factory();
  auto r = p->config("foo", "bar");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("'foo'"), std::string::npos);
  ASSERT_TRUE(p->config("pread", "exit 1"));
  auto c = p->open(OpenParams{});
  ASSERT_TRUE(c);
  auto size = (*c)->get_size();
  ASSERT_FALSE(size);
  EXPECT_TRUE(size.error().message.ends_with("/missing: the get_size method is required"))
      << size.error().message;
}

}  // namespace
}  // namespace nbd::plugins
