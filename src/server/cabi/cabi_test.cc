// SPDX-License-Identifier: BSD-3-Clause
// The exported nbdkit_* functions as a C plugin calls them: parsers, error capture and the
// errno rules, the extents and exports lists, interned strings, the client context.
#include <gtest/gtest.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#define NBDKIT_API_VERSION 2
#include "nbdkit-plugin.h"
#include "server/cabi/cabi.h"

namespace cabi = nbd::server::cabi;

namespace {

// The message a failing call leaves, or "" when it succeeded.
template <class F>
std::string failure_message(F&& f) {
  cabi::CallScope scope;
  if (f()) return "";
  return scope.failure("call", false, 0).message;
}

TEST(CabiParse, SizesAndBools) {
  cabi::CallScope scope;
  EXPECT_EQ(nbdkit_parse_size("1M"), 1048576);
  EXPECT_EQ(nbdkit_parse_size("512"), 512);
  EXPECT_EQ(nbdkit_parse_size("1Q"), -1);
  EXPECT_EQ(nbdkit_parse_bool("on"), 1);
  EXPECT_EQ(nbdkit_parse_bool("false"), 0);
  EXPECT_EQ(nbdkit_parse_bool("maybe"), -1);
  EXPECT_NE(scope.failure("x", false, 0).message.find("maybe"), std::string::npos);
}

TEST(CabiParse, IntegersCheckTheirRange) {
  struct Case {
    const char* text;
    bool ok8, oku8, oku32;
  } cases[] = {
      {"0", true, true, true},
      {"127", true, true, true},
      {"128", false, true, true},
      {"-1", true, false, false},
      {"0x10", true, true, true},
      {"256", false, false, true},
      {"4294967296", false, false, false},
      {"12abc", false, false, false},
      {"", false, false, false},
  };
  for (const auto& c : cases) {
    cabi::CallScope scope;
    int8_t i8 = 99;
    uint8_t u8 = 99;
    uint32_t u32 = 99;
    EXPECT_EQ(nbdkit_parse_int8_t("n", c.text, &i8) == 0, c.ok8) << c.text;
    EXPECT_EQ(nbdkit_parse_uint8_t("n", c.text, &u8) == 0, c.oku8) << c.text;
    EXPECT_EQ(nbdkit_parse_uint32_t("n", c.text, &u32) == 0, c.oku32) << c.text;
    if (!c.ok8) {
      EXPECT_EQ(i8, 99) << "a failed parse leaves the result alone: " << c.text;
    }
    (void)scope.failure("x", false, 0);
  }
  int64_t big;
  EXPECT_EQ(nbdkit_parse_int64_t("n", "-9223372036854775808", &big), 0);
  EXPECT_EQ(big, INT64_MIN);
  EXPECT_NE(failure_message([] {
              unsigned u;
              return nbdkit_parse_unsigned("count", "-5", &u) == 0;
            }).find("count"),
            std::string::npos);
}

TEST(CabiErrors, LastMessageAndErrnoRules) {
  {
    cabi::CallScope scope;
    nbdkit_error("first");
    nbdkit_error("second: %s", "why");
    nbd::Error e = scope.failure("pread", false, ENOMEM);
    EXPECT_EQ(e.message, "second: why");
    EXPECT_EQ(e.errnum, EIO) << "errno is ignored without errno_is_preserved";
  }
  {
    cabi::CallScope scope;
    EXPECT_EQ(scope.failure("pread", true, ENOMEM).errnum, ENOMEM);
  }
  {
    cabi::CallScope scope;
    nbdkit_set_error(ENOSPC);
    nbd::Error e = scope.failure("pwrite", true, ENOMEM);
    EXPECT_EQ(e.errnum, ENOSPC) << "nbdkit_set_error wins";
    EXPECT_EQ(e.message, "pwrite failed");
  }
  {
    cabi::CallScope scope;
    std::string long_text(2000, 'x');
    nbdkit_error("%s!", long_text.c_str());
    EXPECT_EQ(scope.failure("x", false, 0).message, long_text + "!") << "longer than the first buffer";
  }
  errno = EROFS;
  cabi::CallScope scope;
  nbdkit_error("keeps errno: %m");
  EXPECT_EQ(errno, EROFS);
  EXPECT_NE(scope.failure("x", true, errno).message.find(strerror(EROFS)), std::string::npos);
}

TEST(CabiExtents, ListFromTheCoreAndOwnLists) {
  nbdkit_extents* e = nbdkit_extents_new(4096, 16384);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(nbdkit_add_extent(e, 0, 8192, 0), 0) << "may begin before start";
  EXPECT_EQ(nbdkit_add_extent(e, 8192, 65536, NBDKIT_EXTENT_HOLE | NBDKIT_EXTENT_ZERO), 0);
  ASSERT_EQ(nbdkit_extents_count(e), 2u);
  nbdkit_extent x = nbdkit_get_extent(e, 0);
  EXPECT_EQ(x.offset, 4096u);
  EXPECT_EQ(x.length, 4096u);
  EXPECT_EQ(nbdkit_get_extent(e, 1).type, uint32_t(NBDKIT_EXTENT_HOLE | NBDKIT_EXTENT_ZERO));
  nbdkit_extents_free(e);
  e = nbdkit_extents_new(0, 100);
  EXPECT_EQ(failure_message([&] { return nbdkit_add_extent(e, 10, 10, 0) == 0; }).empty(), false)
      << "a first extent after start is refused";
  nbdkit_extents_free(e);
}

TEST(CabiExports, ListWithTheDefault) {
  nbdkit_exports* x = nbdkit_exports_new();
  EXPECT_EQ(nbdkit_add_export(x, "a", "the a"), 0);
  EXPECT_EQ(nbdkit_use_default_export(x), 0);
  ASSERT_EQ(nbdkit_exports_count(x), 2u);
  EXPECT_STREQ(nbdkit_get_export(x, 0).name, "a");
  EXPECT_STREQ(nbdkit_get_export(x, 0).description, "the a");
  EXPECT_FALSE(x->entries[1].has_value());
  EXPECT_FALSE(failure_message([&] { return nbdkit_add_export(x, nullptr, nullptr) == 0; }).empty());
  nbdkit_exports_free(x);
}

TEST(CabiClient, ContextAndInterning) {
  EXPECT_TRUE(failure_message([] { return nbdkit_export_name() != nullptr; }).find("not called from") !=
              std::string::npos);
  cabi::ClientContext ctx;
  ctx.export_name = "disk1";
  ctx.has_export_name = true;
  ctx.is_tls = false;
  ctx.peer.pid = 42;
  cabi::ClientScope in(&ctx);
  EXPECT_STREQ(nbdkit_export_name(), "disk1");
  EXPECT_EQ(nbdkit_is_tls(), 0);
  EXPECT_EQ(nbdkit_peer_pid(), 42);
  EXPECT_NE(failure_message([] { return nbdkit_peer_uid() != -1; }).find("not supported"), std::string::npos);
  const char* a = nbdkit_printf_intern("%s-%d", "x", 7);
  const char* b = nbdkit_strndup_intern("abcdef", 3);
  for (int i = 0; i < 1000; ++i) nbdkit_strdup_intern("filler");
  EXPECT_STREQ(a, "x-7") << "interned strings stay put";
  EXPECT_STREQ(b, "abc");
  EXPECT_EQ(ctx.interned.size(), 1002u) << "kept by the connection";
}

TEST(CabiPaths, AbsoluteAndReal) {
  char* p = nbdkit_absolute_path("/etc/passwd");
  EXPECT_STREQ(p, "/etc/passwd");
  free(p);
  p = nbdkit_absolute_path("x/y");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p[0], '/');
  EXPECT_TRUE(std::string(p).ends_with("/x/y"));
  free(p);
  p = nbdkit_realpath("/");
  EXPECT_STREQ(p, "/");
  free(p);
  EXPECT_FALSE(failure_message([] { return nbdkit_realpath("/no/such/path") != nullptr; }).empty());
  char* pw = nullptr;
  EXPECT_EQ(nbdkit_read_password("secret", &pw), 0);
  EXPECT_STREQ(pw, "secret");
  free(pw);
}

}  // namespace
