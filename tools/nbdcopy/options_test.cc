// SPDX-License-Identifier: BSD-3-Clause
// nbdcopy command-line parsing: every option, the endpoint words, and one-line errors.
#include "options.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace nbd::copy {
namespace {

Result<Options> parse(std::vector<std::string> args) {
  args.insert(args.begin(), "nbdcopy");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  return parse_options(static_cast<int>(args.size()), argv.data());
}

TEST(Options, Defaults) {
  auto o = parse({"a.img", "b.img"});
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_EQ(o->connections, 4u);
  EXPECT_EQ(o->copy.request_size, 1u << 20);
  EXPECT_EQ(o->copy.requests, 4u);
  EXPECT_EQ(o->copy.sparse, 4096u);
  // Smaller requests without -R: more of them, up to 64.
  EXPECT_EQ(parse({"--request-size=256K", "a", "b"})->copy.requests, 16u);
  EXPECT_EQ(parse({"--request-size=256K", "--queue-size=16M", "a", "b"})->copy.requests, 64u);
  EXPECT_EQ(parse({"--request-size=32M", "a", "b"})->copy.requests, 1u);
  EXPECT_GE(o->copy.threads, 1u);
  EXPECT_EQ(o->source.kind, EndpointSpec::Kind::File);
  EXPECT_EQ(o->destination.text, "b.img");
}

TEST(Options, EveryOption) {
  auto o = parse({"--allocated", "-C", "2", "--target-is-zero", "--flush", "--no-extents", "--progress=3",
                  "--queue-size=1M", "--request-size=1M", "-R", "8", "-S", "0", "--synchronous", "-T", "3",
                  "-v", "nbd+unix:///?socket=/s", "null:"});
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_TRUE(o->copy.allocated && o->copy.destination_is_zero && o->copy.flush && o->copy.no_extents);
  EXPECT_TRUE(o->copy.synchronous && o->copy.verbose);
  EXPECT_EQ(o->connections, 2u);
  EXPECT_EQ(o->progress_fd, 3);
  EXPECT_EQ(o->copy.queue_size, 1u << 20);
  EXPECT_EQ(o->copy.request_size, 1u << 20);
  EXPECT_EQ(o->copy.requests, 8u);
  EXPECT_EQ(o->copy.sparse, 0u);
  EXPECT_EQ(o->copy.threads, 3u);
  EXPECT_EQ(o->source.kind, EndpointSpec::Kind::Uri);
  EXPECT_EQ(o->destination.kind, EndpointSpec::Kind::Null);
}

TEST(Options, CommandsInBrackets) {
  auto o = parse({"--", "[", "nbdkit", "-r", "pattern", "1M", "]", "-"});
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_EQ(o->source.kind, EndpointSpec::Kind::Command);
  EXPECT_EQ(o->source.argv, (std::vector<std::string>{"nbdkit", "-r", "pattern", "1M"}));
  EXPECT_EQ(o->destination.kind, EndpointSpec::Kind::Stdio);
  auto p = parse({"-p", "-", "[", "qemu-nbd", "x", "]"});
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_TRUE(p->progress_bar);
  EXPECT_EQ(p->destination.argv.size(), 2u);
}

TEST(Options, HelpAndVersion) {
  EXPECT_TRUE(parse({"--help"})->help);
  EXPECT_TRUE(parse({"-V"})->version);
}

TEST(Options, ErrorsAreOneLine) {
  struct Case {
    std::vector<std::string> args;
    std::string want;
  } cases[] = {
      {{"a"}, "expected SOURCE and DESTINATION"},
      {{"a", "b", "c"}, "unexpected argument 'c'"},
      {{"--bogus", "a", "b"}, "unrecognized option '--bogus'"},
      {{"-C", "foo", "a", "b"}, "--connections"},
      {{"-C", "0", "a", "b"}, "at least 1"},
      {{"--request-size=100M", "a", "b"}, "power of 2"},
      {{"--request-size=3000", "a", "b"}, "power of 2"},
      {{"-S", "1000", "a", "b"}, "multiple of 512"},
      {{"null:", "b"}, "null: can only be a destination"},
      {{"--", "[", "nbdkit", "a"}, "matching ']'"},
      {{"[", "]", "a"}, "needs a command"},
  };
  for (const auto& c : cases) {
    auto o = parse(c.args);
    ASSERT_FALSE(o) << c.want;
    EXPECT_NE(o.error().message.find(c.want), std::string::npos) << o.error().message;
    EXPECT_EQ(o.error().message.find('\n'), std::string::npos);
  }
}

}  // namespace
}  // namespace nbd::copy
