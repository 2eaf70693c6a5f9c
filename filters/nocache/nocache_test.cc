// SPDX-License-Identifier: BSD-3-Clause
// nocache filter against the in-memory fake disk: what each cachemode advertises and what a
// cache request turns into below the filter.
#include <gtest/gtest.h>

#include "fixtures/fake_disk.h"

namespace nbd::filters {
extern const FilterInfo nocache_filter_info;
namespace {

using namespace nbd::testing;  // FakeDisk, FakeCall, configure, open_over, bytes_of

TEST(NocacheFilter, DefaultHidesCacheEvenFromACachingPlugin) {
  FakeDisk disk(100);
  auto f = nocache_filter_info.factory();
  ASSERT_TRUE(configure(*f, {}));
  auto c = open_over(*f, disk);
  ASSERT_TRUE(c);
  EXPECT_EQ(*(*c)->can_cache(), CacheMode::None);
  auto r = (*c)->cache(10, 0, 0);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().errnum, EINVAL);
  EXPECT_TRUE(disk.calls().empty());
}

TEST(NocacheFilter, EmulateReadsInsteadOfCaching) {
  FakeDisk disk(100);
  auto f = nocache_filter_info.factory();
  ASSERT_TRUE(configure(*f, {{"cachemode", "emulate"}}));
  auto c = open_over(*f, disk);
  ASSERT_TRUE(c);
  EXPECT_EQ(*(*c)->can_cache(), CacheMode::Emulate);
  ASSERT_TRUE((*c)->cache(40, 10, 0));
  auto calls = disk.calls();
  ASSERT_FALSE(calls.empty());
  uint64_t read = 0;
  for (const auto& k : calls) {
    EXPECT_EQ(k.op, "pread");
    read += k.count;
  }
  EXPECT_EQ(read, 40u);
  EXPECT_EQ(calls.front().offset, 10u);
}

TEST(NocacheFilter, EmulateWorksOverAPluginWithoutCache) {
  FakeCaps caps;
  caps.cache = CacheMode::None;
  FakeDisk disk(100, caps);
  auto f = nocache_filter_info.factory();
  ASSERT_TRUE(configure(*f, {{"cachemode", "emulate"}}));
  auto c = open_over(*f, disk);
  ASSERT_TRUE(c);
  ASSERT_TRUE((*c)->cache(5, 0, 0));
  EXPECT_EQ(disk.calls(), (std::vector<FakeCall>{{"pread", 0, 5, 0}}));
}

TEST(NocacheFilter, NopAcceptsAndDropsCacheRequests) {
  FakeCaps caps;
  caps.cache = CacheMode::None;
  FakeDisk disk(100, caps);
  auto f = nocache_filter_info.factory();
  ASSERT_TRUE(configure(*f, {{"cachemode", "nop"}}));
  auto c = open_over(*f, disk);
  ASSERT_TRUE(c);
  EXPECT_NE(*(*c)->can_cache(), CacheMode::None);
  ASSERT_TRUE((*c)->cache(50, 50, 0));
  EXPECT_TRUE(disk.calls().empty());
  EXPECT_FALSE((*c)->cache(50, 51, 0)) << "the core still checks the range";
}

TEST(NocacheFilter, OtherRequestsPassThrough) {
  FakeDisk disk(100);
  auto f = nocache_filter_info.factory();
  ASSERT_TRUE(configure(*f, {{"cachemode", "nop"}}));
  auto c = open_over(*f, disk);
  ASSERT_TRUE(c);
  auto data = bytes_of("kept");
  ASSERT_TRUE((*c)->pwrite(data, 7, 0));
  std::vector<std::byte> buf(4);
  ASSERT_TRUE((*c)->pread(buf, 7, 0));
  EXPECT_EQ(buf, data);
}

TEST(NocacheFilter, RejectsUnknownModesAndLeavesOtherKeys) {
  auto f = nocache_filter_info.factory();
  auto r = f->config("cachemode", "native");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("cachemode=native"), std::string::npos);
  EXPECT_FALSE(f->config("cachemode", "NONE")) << "mode names are case-sensitive, as upstream";
  EXPECT_FALSE(*f->config("cache", "none"));
  EXPECT_FALSE(*f->config("size", "1"));
}

}  // namespace
}  // namespace nbd::filters
