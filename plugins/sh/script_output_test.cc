// SPDX-License-Identifier: BSD-3-Clause
// Table-driven tests of the script protocol's text side: errors on stderr, exit codes, and the
// formats of list_exports, extents, block_size, can_fua/can_cache and the flag words.
#include "plugins/sh/script_output.h"

#include <gtest/gtest.h>
#include <sys/wait.h>

namespace nbd::script {
namespace {

int exited(int code) { return code << 8; }  // a waitpid status for "exit(code)"

TEST(ScriptOutput, ErrorFromStderr) {
  struct Case {
    const char* err;
    int errnum;
    const char* message;
  } cases[] = {
      {"EIO boom\n", EIO, "/s: boom"},
      {"enospc lower\n", ENOSPC, "/s: lower"},
      {"ENOSPC\n", ENOSPC, "/s: "},
      {"EROFS  read only  \nsecond line\n", EROFS, "/s: read only  "},
      {"ENOTSUP x", ENOTSUP, "/s: x"},
      {"EOPNOTSUPP x", EOPNOTSUPP, "/s: x"},
      {"EFOO bar\n", EIO, "/s: EFOO bar"},
      {"  ENOSPC spaced", EIO, "/s:   ENOSPC spaced"},
      {"", EIO, "/s: script exited with error, but did not print an error message on stderr"},
  };
  for (const auto& c : cases) {
    Error e = error_from_stderr("/s", c.err);
    EXPECT_EQ(e.errnum, c.errnum) << c.err;
    EXPECT_EQ(e.message, c.message) << c.err;
  }
}

TEST(ScriptOutput, ExitCodes) {
  EXPECT_EQ(*decode_status("/s", exited(0), ""), Exit::Ok);
  EXPECT_EQ(*decode_status("/s", exited(2), "ignored"), Exit::Missing);
  EXPECT_EQ(*decode_status("/s", exited(3), ""), Exit::False);
  for (int code : {1, 4, 5, 7, 8, 127, 255}) {
    auto r = decode_status("/s", exited(code), "ENOSPC full");
    ASSERT_FALSE(r) << code;
    EXPECT_EQ(r.error().errnum, ENOSPC);
  }
  auto sig = decode_status("/s", SIGKILL, "");
  ASSERT_FALSE(sig);
  EXPECT_EQ(sig.error().message, "/s: script terminated by signal 9");
}

TEST(ScriptOutput, ExportListLayouts) {
  auto names = parse_export_list("a\nb\n");
  ASSERT_TRUE(names);
  ASSERT_EQ(names->size(), 2u);
  EXPECT_EQ((*names)[1].name, "b");
  auto explicit_names = parse_export_list("NAMES\nx\n");
  ASSERT_EQ(explicit_names->size(), 1u);
  EXPECT_EQ((*explicit_names)[0].name, "x");
  auto inter = parse_export_list("INTERLEAVED\na\ndesc a\nb\ndesc b\n");
  ASSERT_EQ(inter->size(), 2u);
  EXPECT_EQ((*inter)[1].name, "b");
  EXPECT_EQ((*inter)[1].description, "desc b");
  auto nd = parse_export_list("NAMES+DESCRIPTIONS\na\nb\nA\nB\n");
  ASSERT_EQ(nd->size(), 2u);
  EXPECT_EQ((*nd)[0].description, "A");
  EXPECT_EQ((*nd)[1].description, "B");
  EXPECT_TRUE(parse_export_list("")->empty());
  EXPECT_FALSE(parse_export_list("NAMES+DESCRIPTIONS\na\nb\nA\n"));
}

TEST(ScriptOutput, Extents) {
  ExtentList e(0, 10 << 20);
  ASSERT_TRUE(parse_extents("0 1M\n1M 8M hole,zero\n9M 1048576 3\n", e));
  ASSERT_EQ(e.extents().size(), 2u);  // the last two have the same type and merge
  EXPECT_EQ(e.extents()[0].flags, 0u);
  EXPECT_EQ(e.extents()[0].length, 1u << 20);
  EXPECT_EQ(e.extents()[1].flags, kExtentHole | kExtentZero);
  EXPECT_EQ(e.extents()[1].length, 9u << 20);

  ExtentList bad(0, 100);
  EXPECT_FALSE(parse_extents("0 1M\nx y\n", bad));
  ExtentList bad_type(0, 100);
  EXPECT_FALSE(parse_extents("0 100 sparkly\n", bad_type));
  ExtentList none(0, 100);
  EXPECT_FALSE(parse_extents("\n", none));
}

TEST(ScriptOutput, BlockSizeAndModes) {
  auto bs = parse_block_size("512 4K 32M\n");
  ASSERT_TRUE(bs);
  EXPECT_EQ(bs->minimum, 512u);
  EXPECT_EQ(bs->preferred, 4096u);
  EXPECT_EQ(bs->maximum, 32u << 20);
  EXPECT_FALSE(parse_block_size("512 4K"));
  EXPECT_EQ(*parse_fua_mode("native\n"), FuaMode::Native);
  EXPECT_EQ(*parse_fua_mode("emulate"), FuaMode::Emulate);
  EXPECT_FALSE(parse_fua_mode("yes"));
  EXPECT_EQ(*parse_cache_mode("none\n"), CacheMode::None);
  EXPECT_FALSE(parse_cache_mode(""));
  ThreadModel m = ThreadModel::SerializeAllRequests;
  EXPECT_TRUE(parse_thread_model("parallel\n", m));
  EXPECT_EQ(m, ThreadModel::Parallel);
  EXPECT_FALSE(parse_thread_model("fast", m));
  EXPECT_EQ(m, ThreadModel::Parallel);
}

TEST(ScriptOutput, FlagWords) {
  EXPECT_EQ(write_flags(0), "");
  EXPECT_EQ(write_flags(kFua), "fua");
  EXPECT_EQ(zero_flags(kFua | kMayTrim | kFastZero), "fua,may_trim,fast");
  EXPECT_EQ(zero_flags(kMayTrim), "may_trim");
  EXPECT_EQ(extents_flags(kReqOne), "req_one");
  EXPECT_EQ(extents_flags(0), "");
}

}  // namespace
}  // namespace nbd::script
