// SPDX-License-Identifier: BSD-3-Clause
// nbddump's format against golden output captured from libnbd 1.14's nbddump on the same
// bytes (plain and coloured, squashed runs, short lines, --length cut-offs).
#include "hexdump.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace nbd::dump {
namespace {

std::string run(const std::vector<unsigned char>& bytes, uint64_t disk_size, bool color,
                size_t limit = ~size_t{0}) {
  std::string out;
  HexDumper d(disk_size, color, [&](std::string_view s) { out += s; });
  std::vector<std::byte> b(bytes.size());
  for (size_t i = 0; i < bytes.size(); ++i) b[i] = std::byte{bytes[i]};
  d.feed(std::span(b).first(std::min(limit, b.size())));
  d.finish();
  return out;
}

// nbdkit data '1 0 0 @0x100 "hello, world!" @0x1003 33'
std::vector<unsigned char> hello_disk() {
  std::vector<unsigned char> v(0x1004, 0);
  v[0] = 1;
  std::string h = "hello, world!";
  std::copy(h.begin(), h.end(), v.begin() + 0x100);
  v[0x1003] = 33;
  return v;
}

TEST(HexDump, SquashesRepeatsLikeUpstream) {
  EXPECT_EQ(run(hello_disk(), 0x1004, false),
            "0000000000: 01 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00 |................|\n"
            "0000000010: 00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00 |................|\n"
            "*\n"
            "0000000100: 68 65 6c 6c 6f 2c 20 77  6f 72 6c 64 21 00 00 00 |hello, world!...|\n"
            "0000000110: 00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00 |................|\n"
            "*\n"
            "0000001000: 00 00 00 21                                      |...!            |\n"
            "");
}

TEST(HexDump, ZeroFeedMatchesByteFeed) {
  // The same disk, with its zero runs given as feed_zeroes: identical text.
  std::string out;
  HexDumper d(0x1004, false, [&](std::string_view s) { out += s; });
  auto v = hello_disk();
  std::vector<std::byte> b(v.size());
  for (size_t i = 0; i < v.size(); ++i) b[i] = std::byte{v[i]};
  d.feed(std::span(b).first(3));
  d.feed_zeroes(0x100 - 3);
  d.feed(std::span(b).subspan(0x100, 13));
  d.feed_zeroes(0x1003 - 0x10d);
  d.feed(std::span(b).subspan(0x1003));
  d.finish();
  EXPECT_EQ(out, run(v, 0x1004, false));
}

TEST(HexDump, LastLineOfTheDiskIsAlwaysShown) {
  // nbdkit memory 64, nbddump -n 63: the repeated last line still prints.
  EXPECT_EQ(run(std::vector<unsigned char>(64, 0), 64, false, 63),
            "0000000000: 00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00 |................|\n"
            "*\n"
            "0000000030: 00 00 00 00 00 00 00 00  00 00 00 00 00 00 00    |............... |\n"
            "");
  // nbdkit memory 1M: whole disk.
  std::string out;
  HexDumper d(1 << 20, false, [&](std::string_view s) { out += s; });
  d.feed_zeroes(1 << 20);
  d.finish();
  EXPECT_EQ(out,
            "0000000000: 00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00 |................|\n"
            "*\n"
            "00000ffff0: 00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00 |................|\n"
            "");
}

TEST(HexDump, ShortLinesComparePaddedWithZeroes) {
  // nbdkit data '@15 1 @31 1 @47 2' size=1M, nbddump -n 40
  std::vector<unsigned char> v(48, 0);
  v[15] = 1;
  v[31] = 1;
  v[47] = 2;
  EXPECT_EQ(run(v, 1 << 20, false, 40),
            "0000000000: 00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 01 |................|\n"
            "*\n"
            "0000000020: 00 00 00 00 00 00 00 00                          |........        |\n"
            "");
}

TEST(HexDump, ColorOutput) {
  std::vector<unsigned char> v = {0,    1,    0x20, 0x41, 0x7a, 0x35, 0x21, 0x7e,
                                  0x7f, 0x80, 0xff, 0x2e, 0x09, 0x0a, 0x5c, 0x22};
  v.resize(64, 0);
  for (unsigned char c : {'A', 'B', '\0', 'C', 'D'}) v.push_back(c);
  EXPECT_EQ(run(v, v.size(), true),
            "\x1b"
            "[22;32m0000000000\x1b"
            "[22;90m: \x1b"
            "[22;90m00 \x1b"
            "[1;34m01 \x1b"
            "[1;34m20 \x1b"
            "[1;34m41 \x1b"
            "[1;34m7a \x1b"
            "[1;34m35 \x1b"
            "[1;34m21 \x1b"
            "[1;34m7e  \x1b"
            "[1;34m7f \x1b"
            "[1;34m80 \x1b"
            "[1;34mff \x1b"
            "[1;34m2e \x1b"
            "[1;34m09 \x1b"
            "[1;34m0a \x1b"
            "[1;34m5c \x1b"
            "[1;34m22 \x1b"
            "[22;90m\xe2"
            "\x94"
            "\x82"
            "\x1b"
            "[22;90m\xc2"
            "\xb7"
            "\x1b"
            "[22;90m\xc2"
            "\xb7"
            "\x1b"
            "[1;35m \x1b"
            "[1;31mA\x1b"
            "[1;31mz\x1b"
            "[1;31m5\x1b"
            "[1;35m!\x1b"
            "[1;35m~\x1b"
            "[22;90m\xc2"
            "\xb7"
            "\x1b"
            "[22;90m\xc2"
            "\xb7"
            "\x1b"
            "[22;90m\xc2"
            "\xb7"
            "\x1b"
            "[1;35m.\x1b"
            "[22;90m\xc2"
            "\xb7"
            "\x1b"
            "[22;90m\xc2"
            "\xb7"
            "\x1b"
            "[1;35m\x5c"
            "\x1b"
            "[1;35m\x22"
            "\x1b"
            "[22;90m\xe2"
            "\x94"
            "\x82"
            "\n"
            "\x1b"
            "[0m\x1b"
            "[22;32m0000000010\x1b"
            "[22;90m: \x1b"
            "[22;90m00 \x1b"
            "[22;90m00 \x1b"
            "[22;90m00 \x1b"
            "[22;90m00 \x1b"
            "[22;90m00 \x1b"
            "[22;90m00 \x1b"
            "[22;90m00 \x1b"
            "[22;90m00  \x1b"
            "[22;90m00 \x1b"
            "[22;90m00 \x1b"
            "[22;90m00 \x1b"
            "[22;90m00 \x1b"
            "[22;90m00 \x1b"
            "[22;90m00 \x1b"
            "[22;90m00 \x1b"
            "[22;90m00 \x1b"
            "[22;90m\xe2"
            "\x94"
            "\x82"
            "\x1b"
            "[22;90m\xc2"
            "\xb7"
            "\x1b"
            "[22;90m\xc2"
            "\xb7"
            "\x1b"
            "[22;90m\xc2"
            "\xb7"
            "\x1b"
            "[22;90m\xc2"
            "\xb7"
            "\x1b"
            "[22;90m\xc2"
            "\xb7"
            "\x1b"
            "[22;90m\xc2"
            "\xb7"
            "\x1b"
            "[22;90m\xc2"
            "\xb7"
            "\x1b"
            "[22;90m\xc2"
            "\xb7"
            "\x1b"
            "[22;90m\xc2"
            "\xb7"
            "\x1b"
            "[22;90m\xc2"
            "\xb7"
            "\x1b"
            "[22;90m\xc2"
            "\xb7"
            "\x1b"
            "[22;90m\xc2"
            "\xb7"
            "\x1b"
            "[22;90m\xc2"
            "\xb7"
            "\x1b"
            "[22;90m\xc2"
            "\xb7"
            "\x1b"
            "[22;90m\xc2"
            "\xb7"
            "\x1b"
            "[22;90m\xc2"
            "\xb7"
            "\x1b"
            "[22;90m\xe2"
            "\x94"
            "\x82"
            "\n"
            "\x1b"
            "[0m\xe2"
            "\x98"
            "\x86"
            "\n"
            "\x1b"
            "[22;32m0000000040\x1b"
            "[22;90m: \x1b"
            "[1;34m41 \x1b"
            "[1;34m42 \x1b"
            "[22;90m00 \x1b"
            "[1;34m43 \x1b"
            "[1;34m44 \x1b"
            "[22;90m                                  \xe2"
            "\x94"
            "\x82"
            "\x1b"
            "[1;31mA\x1b"
            "[1;31mB\x1b"
            "[22;90m\xc2"
            "\xb7"
            "\x1b"
            "[1;31mC\x1b"
            "[1;31mD\x1b"
            "[22;90m           \xe2"
            "\x94"
            "\x82"
            "\n"
            "\x1b"
            "[0m");
}

TEST(HexDump, EmptyDiskPrintsNothing) { EXPECT_EQ(run({}, 0, false), ""); }

}  // namespace
}  // namespace nbd::dump
