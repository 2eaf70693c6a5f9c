// SPDX-License-Identifier: BSD-3-Clause
// nofilter against the in-memory fake disk: every answer, request, flag and error passes
// through unchanged, and every process-wide call forwards.
#include <gtest/gtest.h>

#include "fixtures/fake_disk.h"

namespace nbd::filters {
extern const FilterInfo nofilter_filter_info;
namespace {

using namespace nbd::testing;  // FakeDisk, FakeCall, configure, open_over, bytes_of

// Answers chosen to differ from every default, so a method that stopped forwarding shows.
FakeCaps unusual_caps() {
  FakeCaps k;
  k.rotational = true;
  k.fast_zero = false;
  k.multi_conn = true;
  k.fua = FuaMode::Emulate;
  k.cache = CacheMode::Native;
  k.block_size = BlockSize{512, 8192, 1 << 20};
  k.description = "the disk below";
  return k;
}

TEST(Nofilter, AnswersAreThePlugins) {
  FakeDisk disk(4096, unusual_caps());
  auto f = nofilter_filter_info.factory();
  ASSERT_TRUE(configure(*f, {}));
  auto c = open_over(*f, disk);
  ASSERT_TRUE(c);
  EXPECT_EQ(*(*c)->get_size(), 4096u);
  auto bs = *(*c)->block_size();
  EXPECT_EQ(bs.minimum, 512u);
  EXPECT_EQ(bs.preferred, 8192u);
  EXPECT_EQ(bs.maximum, 1u << 20);
  EXPECT_TRUE(*(*c)->can_write());
  EXPECT_TRUE(*(*c)->can_flush());
  EXPECT_TRUE(*(*c)->is_rotational());
  EXPECT_TRUE(*(*c)->can_trim());
  EXPECT_EQ(*(*c)->can_zero(), ZeroMode::Native);
  EXPECT_FALSE(*(*c)->can_fast_zero());
  EXPECT_TRUE(*(*c)->can_extents());
  EXPECT_EQ(*(*c)->can_fua(), FuaMode::Emulate);
  EXPECT_TRUE(*(*c)->can_multi_conn());
  EXPECT_EQ(*(*c)->can_cache(), CacheMode::Native);
  EXPECT_EQ(*(*c)->export_description(), "the disk below");
}

TEST(Nofilter, NegativeAnswersAreThePluginsToo) {
  FakeCaps k;
  k.write = k.flush = k.trim = k.extents = k.multi_conn = false;
  k.cache = CacheMode::None;
  FakeDisk disk(512, k);
  auto f = nofilter_filter_info.factory();
  auto c = open_over(*f, disk);
  ASSERT_TRUE(c);
  EXPECT_FALSE(*(*c)->can_write());
  EXPECT_FALSE(*(*c)->can_flush());
  EXPECT_FALSE(*(*c)->is_rotational());
  EXPECT_FALSE(*(*c)->can_trim());
  EXPECT_FALSE(*(*c)->can_extents());
  EXPECT_FALSE(*(*c)->can_multi_conn());
  EXPECT_EQ(*(*c)->can_cache(), CacheMode::None);
}

TEST(Nofilter, EveryRequestReachesThePluginWithItsFlags) {
  FakeDisk disk(4096, unusual_caps());
  auto f = nofilter_filter_info.factory();
  auto c = open_over(*f, disk);
  ASSERT_TRUE(c);
  auto data = bytes_of(std::string(512, 'n'));
  ASSERT_TRUE((*c)->pwrite(data, 512, 0));
  std::vector<std::byte> buf(512);
  ASSERT_TRUE((*c)->pread(buf, 512, 0));
  EXPECT_EQ(buf, data);
  ASSERT_TRUE((*c)->flush(0));
  ASSERT_TRUE((*c)->trim(512, 1024, 0));
  ASSERT_TRUE((*c)->zero(512, 1536, kMayTrim));
  ASSERT_TRUE((*c)->cache(1024, 0, 0));
  ExtentList e(0, 4096);
  ASSERT_TRUE((*c)->extents(4096, 0, kReqOne, e));
  EXPECT_EQ(disk.calls(), (std::vector<FakeCall>{{"pwrite", 512, 512, 0},
                                                 {"pread", 512, 512, 0},
                                                 {"flush", 0, 0, 0},
                                                 {"trim", 1024, 512, 0},
                                                 {"zero", 1536, 512, kMayTrim},
                                                 {"cache", 0, 1024, 0},
                                                 {"extents", 0, 4096, kReqOne}}));
  ASSERT_EQ(e.extents().size(), 1u);
  EXPECT_EQ(e.extents()[0].length, 512u) << "the hole before the written block";
}

TEST(Nofilter, ErrorsComeBackUnchanged) {
  FakeDisk disk(4096);
  auto f = nofilter_filter_info.factory();
  auto c = open_over(*f, disk);
  ASSERT_TRUE(c);
  disk.fail_next("pread", ENOSPC);
  std::vector<std::byte> buf(8);
  auto r = (*c)->pread(buf, 0, 0);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().errnum, ENOSPC);
  EXPECT_EQ(r.error().message, "fake disk: injected pread failure");
  disk.fail_next("zero", EPERM);
  EXPECT_EQ((*c)->zero(8, 0, 0).error().errnum, EPERM);
  EXPECT_TRUE((*c)->pread(buf, 0, 0)) << "failures were one-shot";
}

TEST(Nofilter, OpenPassesTheParametersDownUnchanged) {
  FakeDisk disk(64);
  auto f = nofilter_filter_info.factory();
  OpenParams seen;
  NextOpen below = [&](const OpenParams& p) {
    seen = p;
    return open_layer(disk, p);
  };
  auto c = f->open(OpenParams{.readonly = true, .export_name = "exp", .connection_id = 7}, below);
  ASSERT_TRUE(c);
  EXPECT_TRUE(seen.readonly);
  EXPECT_EQ(seen.export_name, "exp");
  EXPECT_EQ(seen.connection_id, 7u);
  EXPECT_NE((*c)->lower_layer(), nullptr) << "nofilter is a layer of its own";
  EXPECT_EQ(disk.opens(), 1);
  c->reset();
  EXPECT_EQ(disk.closes(), 1);
}

TEST(Nofilter, ExportsAndConfigForward) {
  auto f = nofilter_filter_info.factory();
  NextExports next{
      [](bool ro, bool tls) -> Result<std::vector<ExportInfo>> {
        if (ro || tls) return make_error(EPERM, "asked with the wrong flags");
        return std::vector<ExportInfo>{{"a", "first"}, {"b", ""}};
      },
      [](bool, bool) -> Result<std::string> { return std::string("a"); },
  };
  auto list = f->list_exports(false, false, next);
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].name, "a");
  EXPECT_EQ((*list)[0].description, "first");
  EXPECT_EQ((*list)[1].name, "b");
  EXPECT_EQ(f->list_exports(true, false, next).error().errnum, EPERM);
  EXPECT_EQ(*f->default_export(false, false, next), "a");
  EXPECT_FALSE(*f->config("size", "1")) << "every key belongs to the plugin";
  std::string forwarded;
  ASSERT_TRUE(f->config("k", "v", [&](std::string_view k, std::string_view v) {
    forwarded = std::string(k) + "=" + std::string(v);
    return ok();
  }));
  EXPECT_EQ(forwarded, "k=v");
}

}  // namespace
}  // namespace nbd::filters
