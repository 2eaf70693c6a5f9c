// SPDX-License-Identifier: BSD-3-Clause
// Command-line parsing (options.cc).
#include "server/options.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace nbd::server {
namespace {

Result<Options> parse(std::vector<std::string> words) {
  std::vector<char*> argv;
  static std::string prog = "nbdkit";
  argv.push_back(prog.data());
  for (auto& w : words) argv.push_back(w.data());
  return parse_options(int(argv.size()), argv.data());
}

TEST(Options, PluginAndParamsWithOptionsAfterPlugin) {
  auto o = parse({"-U", "-", "memory", "1G", "allocator=sparse", "--run", "echo $uri", "-r"});
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_EQ(o->plugin, "memory");
  EXPECT_EQ(o->unix_socket, "-");
  EXPECT_EQ(o->run, "echo $uri");
  EXPECT_TRUE(o->readonly);
  ASSERT_EQ(o->params.size(), 2u);
  EXPECT_EQ(o->params[0].key, "");
  EXPECT_EQ(o->params[0].value, "1G");
  EXPECT_EQ(o->params[1].key, "allocator");
  EXPECT_EQ(o->params[1].value, "sparse");
}

TEST(Options, DebugFlagsSplitAtFirstDotAndEquals) {
  auto o = parse({"-D", "nbdkit.backend.datapath=0", "--debug=file.zero=1", "-Dx.y=-0x10", "null"});
  ASSERT_TRUE(o) << o.error().message;
  ASSERT_EQ(o->debug.size(), 3u);
  EXPECT_EQ(o->debug[0].name, "nbdkit");
  EXPECT_EQ(o->debug[0].flag, "backend.datapath");
  EXPECT_EQ(o->debug[0].value, 0);
  EXPECT_EQ(o->debug[1].name, "file");
  EXPECT_EQ(o->debug[1].flag, "zero");
  EXPECT_EQ(o->debug[1].value, 1);
  EXPECT_EQ(o->debug[2].value, -16);
  for (std::string bad :
       {"foo", "foo.bar", "foo.bar=", ".bar=1", "foo.=1", "foo.bar=one", "foo=1.bar", "a.b=99999999999"}) {
    auto r = parse({"-D", bad, "null"});
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.error().message.find("-D " + bad), std::string::npos) << r.error().message;
  }
}

TEST(Options, ShortClustersLongEqualsAndFilters) {
  auto o = parse({"-fvr", "-p10810", "--filter=offset", "--filter", "delay", "-t", "4", "null"});
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_TRUE(o->foreground && o->verbose && o->readonly);
  EXPECT_EQ(o->port, "10810");
  EXPECT_EQ(o->threads, 4u);
  EXPECT_EQ(o->filters, (std::vector<std::string>{"offset", "delay"}));
}

TEST(Options, ModesAndDoubleDash) {
  EXPECT_EQ(parse({"--help"})->mode, Mode::Help);
  EXPECT_EQ(parse({"memory", "--help"})->mode, Mode::PluginHelp);
  EXPECT_EQ(parse({"--version"})->mode, Mode::Version);
  EXPECT_EQ(parse({"memory", "--dump-plugin"})->mode, Mode::DumpPlugin);
  auto o = parse({"--", "file", "-weird-name"});
  ASSERT_TRUE(o);
  EXPECT_EQ(o->params[0].value, "-weird-name");
}

TEST(Options, ParamSplitting) {
  EXPECT_EQ(split_param("size=1M").key, "size");
  EXPECT_EQ(split_param("disk.img").key, "");
  EXPECT_EQ(split_param("/tmp/a=b").key, "");  // a path with '=' is a bare value
  EXPECT_EQ(split_param("/tmp/a=b").value, "/tmp/a=b");
  EXPECT_EQ(split_param("=x").key, "");
  EXPECT_TRUE(is_path_like("./p.so"));
  EXPECT_TRUE(is_path_like("foo.so"));
  EXPECT_FALSE(is_path_like("memory"));
}

TEST(Options, ErrorsNameTheArgument) {
  struct Case {
    std::vector<std::string> argv;
    std::string needle;
  } cases[] = {
      {{"--badopt", "null"}, "--badopt"},
      {{"-Z", "null"}, "-Z"},
      {{"-t", "0", "null"}, "threads"},
      {{"-p", "99999", "null"}, "port"},
      {{"--log=file", "null"}, "--log=file"},
      {{"--tls=maybe", "null"}, "--tls=maybe"},
      {{"-o", "--tls=require", "null"}, "oldstyle"},
      {{"--selinux-label=x", "null"}, "--selinux-label"},
      {{"-4", "-6", "null"}, "-4"},
      {{}, "no plugin"},
      {{"null", "--run"}, "--run"},
      {{"-s", "--run", "x", "null"}, "-s"},
  };
  for (const auto& c : cases) {
    auto o = parse(c.argv);
    ASSERT_FALSE(o) << c.needle;
    EXPECT_NE(o.error().message.find(c.needle), std::string::npos) << o.error().message;
    EXPECT_EQ(o.error().message.find('\n'), std::string::npos);
  }
}

TEST(Options, Tls) {
  auto o = parse({"--tls=require", "--tls-certificates=/d", "--tls-verify-peer", "null"});
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_EQ(o->tls, TlsMode::Require);
  EXPECT_EQ(o->tls_certificates, "/d");
  EXPECT_TRUE(o->tls_verify_peer);
  o = parse({"--tls=on", "--tls-psk=/k", "null"});
  ASSERT_TRUE(o);
  EXPECT_EQ(o->tls, TlsMode::On);
  EXPECT_EQ(o->tls_psk, "/k");
  o = parse({"--tls", "off", "null"});
  ASSERT_TRUE(o);
  EXPECT_EQ(o->tls, TlsMode::Off);
  o = parse({"null"});
  ASSERT_TRUE(o);
  EXPECT_EQ(o->tls, TlsMode::Default);
}

}  // namespace
}  // namespace nbd::server
