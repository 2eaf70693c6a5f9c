// SPDX-License-Identifier: BSD-3-Clause
// readonly filter: always read-only without readonly-file; with it, writes fail with EPERM
// exactly while the file exists, and the bytes are untouched.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "fixtures/fake_disk.h"

namespace nbd::filters {
extern const FilterInfo readonly_filter_info;
namespace {

using namespace nbd::testing;

TEST(ReadonlyFilter, AlwaysReadOnlyWithoutAFile) {
  FakeDisk disk(16);
  auto f = readonly_filter_info.factory();
  ASSERT_TRUE(configure(*f, {}));
  auto c = open_over(*f, disk);
  ASSERT_TRUE(c);
  EXPECT_FALSE(*(*c)->can_write());
  EXPECT_FALSE((*c)->pwrite(bytes_of("x"), 0, 0));
  std::vector<std::byte> buf(1);
  EXPECT_TRUE((*c)->pread(buf, 0, 0));
  for (const auto& call : disk.calls()) EXPECT_EQ(call.op, "pread");
}

TEST(ReadonlyFilter, FileSwitchesAtRunTime) {
  char tmpl[] = "/tmp/readonly_test.XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string ro = std::string(tmpl) + "/ro";
  FakeDisk disk(16);
  auto f = readonly_filter_info.factory();
  ASSERT_TRUE(configure(*f, {{"readonly-file", ro}}));
  auto c = open_over(*f, disk);
  ASSERT_TRUE(c);
  EXPECT_TRUE(*(*c)->can_write());
  ASSERT_TRUE((*c)->pwrite(bytes_of("abcd"), 0, 0));
  std::ofstream(ro).put('x');
  for (auto r : {(*c)->pwrite(bytes_of("zzzz"), 0, 0), (*c)->trim(4, 0, 0), (*c)->zero(4, 0, 0)}) {
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().errnum, EPERM);
  }
  std::vector<std::byte> buf(4);
  ASSERT_TRUE((*c)->pread(buf, 0, 0));
  EXPECT_EQ(buf, bytes_of("abcd"));
  std::remove(ro.c_str());
  ASSERT_TRUE((*c)->pwrite(bytes_of("wxyz"), 0, 0));
  ASSERT_TRUE((*c)->pread(buf, 0, 0));
  EXPECT_EQ(buf, bytes_of("wxyz"));
  ::rmdir(tmpl);
}

TEST(ReadonlyFilter, RejectsAnEmptyPath) {
  auto f = readonly_filter_info.factory();
  EXPECT_FALSE(f->config("readonly-file", ""));
  EXPECT_FALSE(*f->config("size", "1"));
}

}  // namespace
}  // namespace nbd::filters
