// SPDX-License-Identifier: BSD-3-Clause
// The data language, table-driven: source text → exact bytes, and bad text → the one-line
// error with its offset. Expectations for upstream features were checked against nbdkit 1.32.
#include "data_parser.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>

#include "data_eval.h"

namespace nbd::data {
namespace {

std::string hex(const Image& img) {
  Bytes b(static_cast<size_t>(img.size()));
  img.read(b, 0);
  std::string s;
  char tmp[4];
  for (auto x : b) {
    std::snprintf(tmp, sizeof tmp, "%s%02x", s.empty() ? "" : " ", static_cast<unsigned>(x));
    s += tmp;
  }
  return s;
}

std::optional<std::string> test_vars(std::string_view name) {
  static const std::map<std::string, std::string, std::less<>> vars = {
      {"p", "1 2"}, {"q", "$p 3"}, {"loop", "$loop"}, {"bad", "1 *"}, {"uses_a", "\\a \\a"}};
  auto it = vars.find(name);
  if (it == vars.end()) return std::nullopt;
  return it->second;
}

struct Case {
  const char* text;
  const char* bytes;  // hex, space separated
};

constexpr Case kCases[] = {
    {"", ""},
    {"0 1 2 3", "00 01 02 03"},
    {"0x55 0xAA 0377 255 010", "55 aa ff ff 08"},
    {"@4 1", "00 00 00 00 01"},
    {"1 @4", "01 00 00 00"},
    {"1 2 3 @1", "01 02 03"},
    {"1 2 3 @1 4 @-2 5", "05 04 03"},
    {"@+3 @^4", "00 00 00 00"},
    {"1 2 @^4", "01 02 00 00"},
    {"@^4 1", "01"},
    {"(1 2 3)*2 @^4 4", "01 02 03 01 02 03 00 00 04"},
    {"@-0 @+0", ""},
    {"1 2 3 4 @0 ( @2 5 )", "00 00 05 04"},  // a group's holes overwrite too
    {"1 2 3 4 @1 ( @1 )", "01 00 03 04"},
    {"( 1 @3 )*2", "01 00 00 01 00 00"},
    {"0x55*3", "55 55 55"},
    {"1*0", ""},
    {"( @4 )*0 1", "01"},
    {"\"ab\"*3", "61 62 61 62 61 62"},
    {"\"ab\" * 2", "61 62 61 62"},
    {"( 1 2 3 )[1:]", "02 03"},
    {"( 1 2 3 )[:2]", "01 02"},
    {"( 1 2 3 )[1:2]", "02"},
    {"( 1 2 3 )[3:3]", ""},
    {"( 1 2 3 )[:]", "01 02 03"},
    {"( 1 2 )*2[1:3]", "02 01"},
    {"( 1 2 )[1:]*3", "02 02 02"},
    {"( 1 2 3 )*4[5:10]", "03 01 02 03 01"},
    {"\"abc\"[1:2]", "62"},
    {R"("\a\b\f\n\r\t\v\\\"\?\'")", "07 08 0c 0a 0d 09 0b 5c 22 3f 27"},
    {R"("\x41\x4a\101\0")", "41 4a 41 00"},
    {"\"\xc3\xa9\"", "c3 a9"},
    {"le16:0x1234 be16:0x1234", "34 12 12 34"},
    {"le32:0x12345678 be32:0x12345678", "78 56 34 12 12 34 56 78"},
    {"le64:1 be64:0x0102030405060708", "01 00 00 00 00 00 00 00 01 02 03 04 05 06 07 08"},
    {"be64:18446744073709551615", "ff ff ff ff ff ff ff ff"},
    {"1 # comment ( ) \" \n 2 #\n3", "01 02 03"},
    {"( 0x55 0xAA ) -> \\b \\b \\b", "55 aa 55 aa"},
    {"1 -> \\a", ""},
    {"1 ->\\a \\a\\a", "01 01"},
    {"( 1 @0 ) -> \\a \\a", "01"},
    {"( 9 ) -> \\a ( \\a \\a ) \\a", "09 09 09"},
    {"( 1 ) -> \\a ( 2 ) -> \\b ( ( \\b ) -> \\a \\a ) \\a", "02 01"},  // inner \a shadows
    {"$p*2", "01 02 01 02"},
    {"$q", "01 02 03"},
    {"( 1 ) -> \\a $uses_a", "01 01"},
    {"<(printf abc)", "61 62 63"},
    {"<(printf abc)*2", "61 62 63 61 62 63"},
    {"<( printf '(x)' )", "28 78 29"},
    {"<(printf a)[:5]", "61"},  // scripts and files are clipped, not errors
    {"<(printf x)[1:]", ""},
    {"<(yes)[:3]", "79 0a 79"},              // endless script cut short
    {"<(printf abc; exit 2)[:2]", "61 62"},  // under a slice the exit status is ignored
    {"<(exit 3)[:5]", ""},
    {"</dev/null", ""},
    {"</dev/null[:5]", ""},
    {"</dev/zero[:3] 1", "00 00 00 01"},
};

TEST(DataLanguage, SourceToBytes) {
  for (const Case& c : kCases) {
    auto r = evaluate_string(c.text, "data", test_vars);
    ASSERT_TRUE(r) << c.text << ": " << r.error().message;
    EXPECT_EQ(hex(*r), c.bytes) << c.text;
  }
}

struct ErrorCase {
  const char* text;
  const char* message;  // the whole error message
};

constexpr ErrorCase kErrors[] = {
    {"( 0 )*x", "data: offset 6: expected a repeat count after '*', found 'x'"},
    {"256", "data: offset 0: byte 256 is out of range 0..255"},
    {"1 0777", "data: offset 2: byte 511 is out of range 0..255"},
    {"08", "data: offset 1: invalid digit '8' in an octal number"},
    {"0x", "data: offset 2: expected hex digits after '0x', found end of input"},
    {"1a", "data: offset 1: unexpected 'a' after the number"},
    {"-1", "data: offset 0: negative numbers are not allowed"},
    {"x",
     "data: offset 0: expected a byte, string, le16:/be16:/le32:/be32:/le64:/be64: word, '@', '(', '<', "
     "'\\NAME' or '$VAR', found 'x'"},
    {"le17:1",
     "data: offset 0: expected a byte, string, le16:/be16:/le32:/be32:/le64:/be64: word, '@', '(', "
     "'<', '\\NAME' or '$VAR', found 'l'"},
    {"le16:0x10000", "data: offset 0: le16:65536 does not fit in 16 bits"},
    {"be32:-1", "data: offset 5: negative numbers are not allowed"},
    {"1 2 ]",
     "data: offset 4: expected a byte, string, le16:/be16:/le32:/be32:/le64:/be64: word, '@', '(', "
     "'<', '\\NAME' or '$VAR', found ']'"},
    {"( 1 2", "data: offset 0: unmatched '(': expected ')' before the end of input"},
    {"1 2 )", "data: offset 4: unmatched ')'"},
    {"\"abc", "data: offset 0: unterminated string: expected '\"'"},
    {"\"\\q\"", "data: offset 1: unknown escape '\\q' in string"},
    {"<(echo", "data: offset 0: unterminated '<(': expected ')' closing the script"},
    {"1 < ", "data: offset 3: expected a file name after '<', found ' '"},
    {"@^3", "data: offset 0: @^3: the alignment must be a power of 2"},
    {"@1*3", "data: offset 2: '*' cannot be applied to an @offset"},
    {"@x", "data: offset 1: expected an offset after '@', found 'x'"},
    {"( 1 2 )[1", "data: offset 9: expected ':' in the slice [N:M], found end of input"},
    {"( 1 2 )[1:2", "data: offset 11: expected ']' closing the slice [N:M], found end of input"},
    {"1 -> a", "data: offset 5: expected '\\NAME' after '->', found 'a'"},
    {"\\ a", "data: offset 1: expected a name after '\\', found ' '"},
    {"99999999999999999999", "data: offset 0: number too large"},
    {"(1)*16E", "data: offset 4: number too large"},
    // Evaluation errors point at the expression too.
    {"1 2 3 @0 @-1", "data: offset 9: @-1 must not be larger than the current offset 0"},
    {"( 1 2 3 )[:5]", "data: offset 9: [0:5] is not a valid slice of an expression of 3 bytes"},
    {"( 1 2 3 )[2:1]", "data: offset 9: [2:1] is not a valid slice of an expression of 3 bytes"},
    {"1 \\nope", "data: offset 2: \\nope is not defined"},
    {"( 1 2 ) -> \\a ( \\a -> \\b \\b ) \\b", "data: offset 30: \\b is not defined"},
    {"$nope", "data: offset 0: $nope: variable not found (give nope=... or set it in the environment)"},
    {"1 $bad", "$bad: offset 3: expected a repeat count after '*', found end of input"},
    {"$loop", "$loop: offset 0: $loop: variables nested too deeply (recursive?)"},
    {"(1)*4E (1)*4E", "data: offset 10: the data would be larger than 2^63-1 bytes"},
    {"(1 2)*8E", "data: offset 5: 2 bytes * 9223372036854775808 is larger than the maximum size 2^63-1"},
    {"@8E", "data: offset 0: offset 9223372036854775808 is larger than 2^63-1"},
    {"</nonexistent/file", "data: offset 0: /nonexistent/file: No such file or directory"},
    {"<(exit 3)", "data: offset 0: <(exit 3): script exited with status 3"},
};

TEST(DataLanguage, ErrorsNameTheOffsetAndWhatWasExpected) {
  for (const ErrorCase& c : kErrors) {
    auto r = evaluate_string(c.text, "data", test_vars);
    ASSERT_FALSE(r) << c.text << " unexpectedly gave " << r->size() << " bytes";
    EXPECT_EQ(r.error().message, c.message) << c.text;
    EXPECT_EQ(r.error().message.find('\n'), std::string::npos) << c.text;
  }
}

// Found by fuzz/fuzz_data: a thousand nested groups overflowed the stack of an ASan build, and a
// long chain of postfixes (1*1*1...) built a tree as deep as it was long. Both are bounded.
TEST(DataLanguage, NestingIsBoundedNotAStackOverflow) {
  std::string groups = std::string(199, '(') + "1" + std::string(199, ')');
  auto ok = evaluate_string(groups, "data", test_vars);
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(hex(*ok), "01");
  std::string deep = std::string(5000, '(') + "1" + std::string(5000, ')');
  auto r = evaluate_string(deep, "data", test_vars);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("nested too deeply"), std::string::npos) << r.error().message;

  std::string chain = "1";
  for (int i = 0; i < 100000; ++i) chain += "*1";
  r = evaluate_string(chain, "data", test_vars);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("expression nested too deeply"), std::string::npos) << r.error().message;
  std::string short_chain = "1";
  for (int i = 0; i < 150; ++i) short_chain += "*1";
  auto s = evaluate_string(short_chain + "[0:1]", "data", test_vars);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(hex(*s), "01");
}

TEST(DataLanguage, AdjacentLiteralsAreMergedIntoOneNode) {
  auto tree = parse("1 2 \"ab\" le16:3 (4) 5*2 6", "data");
  ASSERT_TRUE(tree);
  const auto& kids = (*tree)->children;
  ASSERT_EQ(kids.size(), 4u);  // "1 2 ab le16:3", (4), 5*2, 6
  EXPECT_EQ(kids[0]->kind, NodeKind::Literal);
  EXPECT_EQ(kids[0]->text, std::string("\x01\x02"
                                       "ab\x03\x00",
                                       6));
  EXPECT_EQ(kids[1]->kind, NodeKind::Group);
  EXPECT_EQ(kids[2]->kind, NodeKind::Repeat);
  EXPECT_EQ(kids[3]->kind, NodeKind::Literal);
}

TEST(DataLanguage, ReadsFilesWithSlicesAndRepeats) {
  std::string path = testing::TempDir() + "data_lang_file.bin";
  std::ofstream(path, std::ios::binary) << "ABCDEF";
  auto r = evaluate_string("<" + path + "[1:3]*2 <" + path + " @^8", "data", test_vars);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(hex(*r), "42 43 42 43 41 42 43 44 45 46 00 00 00 00 00 00");
  std::remove(path.c_str());
}

TEST(DataLanguage, SizeSuffixesInCountsAndOffsets) {
  auto r = evaluate_string("@1K 1 ( 0x55 )*2K", "data", test_vars);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->size(), 1024u + 1 + 2048);
}

}  // namespace
}  // namespace nbd::data
