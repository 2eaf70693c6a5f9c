// SPDX-License-Identifier: BSD-3-Clause
// Table-driven tests of the shared command-line parsers.
#include "nbd/parse.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

namespace nbd {
namespace {

struct SizeCase {
  const char* in;
  uint64_t want;
};

TEST(ParseSize, AcceptsUpstreamForms) {
  const SizeCase cases[] = {
      {"0", 0},           {"512", 512},       {"1b", 1},          {"2s", 1024},       {"1k", 1024},
      {"1K", 1024},       {"1M", 1 << 20},    {"1MiB", 1 << 20},  {"1MB", 1 << 20},   {"2G", 2ull << 30},
      {"1T", 1ull << 40}, {"1P", 1ull << 50}, {"1E", 1ull << 60}, {"7E", 7ull << 60},
  };
  for (const auto& c : cases) {
    auto r = parse_size("size", c.in);
    ASSERT_TRUE(r) << c.in << ": " << r.error().message;
    EXPECT_EQ(*r, c.want) << c.in;
  }
}

TEST(ParseSize, RejectsWithMessageNamingParameter) {
  auto r = parse_size("size", "1Q");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message,
            "size=1Q: unknown size suffix 'Q' (use K, M, G, T, P, E, or a plain number of bytes)");
  EXPECT_FALSE(parse_size("size", ""));
  EXPECT_FALSE(parse_size("size", "-1"));
  EXPECT_FALSE(parse_size("size", "8E"));  // > INT64_MAX
  EXPECT_FALSE(parse_size("size", "99999999999999999999"));
  EXPECT_FALSE(parse_size("size", "1Mx"));
}

TEST(ParseBool, Forms) {
  for (const char* t : {"1", "true", "YES", "on", "y"}) EXPECT_TRUE(*parse_bool("b", t)) << t;
  for (const char* f : {"0", "false", "No", "off", "n"}) EXPECT_FALSE(*parse_bool("b", f)) << f;
  EXPECT_FALSE(parse_bool("b", "maybe"));
}

TEST(ParseNumbers, BasesAndOverflow) {
  EXPECT_EQ(*parse_uint64("n", "0x10"), 16u);
  EXPECT_EQ(*parse_uint64("n", "010"), 8u);
  EXPECT_FALSE(parse_uint32("n", "4294967296"));
  EXPECT_FALSE(parse_uint64("n", "-1"));
  EXPECT_FALSE(parse_uint64("n", "12abc"));
  EXPECT_EQ(*parse_int64("n", "-5"), -5);
}

TEST(ParseSeconds, AtLeastOne) {
  EXPECT_EQ(*parse_seconds("timeout", "60"), 60u);
  auto zero = parse_seconds("timeout", "0");
  ASSERT_FALSE(zero);
  EXPECT_EQ(zero.error().message, "timeout=0: expected a number of seconds, at least 1");
  EXPECT_FALSE(parse_seconds("timeout", "-1"));
  EXPECT_FALSE(parse_seconds("timeout", "4294967296"));
}

TEST(ParseDelay, Units) {
  EXPECT_EQ(*parse_delay_ns("d", "2"), 2'000'000'000u);
  EXPECT_EQ(*parse_delay_ns("d", "500ms"), 500'000'000u);
  EXPECT_EQ(*parse_delay_ns("d", "1.5s"), 1'500'000'000u);
  EXPECT_FALSE(parse_delay_ns("d", "soon"));
}

TEST(ParseProbability, Forms) {
  EXPECT_DOUBLE_EQ(*parse_probability("r", "0.25"), 0.25);
  EXPECT_DOUBLE_EQ(*parse_probability("r", "50%"), 0.5);
  EXPECT_DOUBLE_EQ(*parse_probability("r", "1:4"), 0.25);
  EXPECT_DOUBLE_EQ(*parse_probability("r", "1/8"), 0.125);
  EXPECT_DOUBLE_EQ(*parse_probability("r", "1:1000000000"), 1e-9);
  EXPECT_FALSE(parse_probability("r", "3:2"));
  EXPECT_FALSE(parse_probability("r", "1:0"));
  EXPECT_FALSE(parse_probability("r", "2"));
  EXPECT_FALSE(parse_probability("r", "x"));
}

TEST(ReadPassword, Forms) {
  EXPECT_EQ(*read_password("password", "plain"), "plain");
  const std::string path = ::testing::TempDir() + "read_password_test";
  {
    std::ofstream f(path);
    f << "s3cret\nsecond line\n";
  }
  EXPECT_EQ(*read_password("password", "+" + path), "s3cret");  // stops at the newline
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  ASSERT_EQ(write(fds[1], "fromfd", 6), 6);
  close(fds[1]);
  EXPECT_EQ(*read_password("password", "-" + std::to_string(fds[0])), "fromfd");  // no newline
  EXPECT_EQ(fcntl(fds[0], F_GETFD), -1);  // and the descriptor is closed
  std::remove(path.c_str());
  auto missing = read_password("cookie", "+" + path);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message.rfind("cookie=+" + path + ": ", 0), 0u);
  EXPECT_FALSE(read_password("password", "-x"));
}

}  // namespace
}  // namespace nbd
