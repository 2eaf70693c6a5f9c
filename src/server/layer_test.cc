// SPDX-License-Identifier: BSD-3-Clause
// The Layer boundary over a plugin (layer.cc): emulation and checks, the exception guard, and the Backend's
// parameter routing, against the in-memory fake disk.
#include "server/layer.h"

#include <gtest/gtest.h>

#include <stdexcept>

#include "fixtures/fake_disk.h"
#include "server/backend.h"
#include "server/guard.h"

namespace nbd::server {
namespace {

using nbd::testing::FakeCall;
using nbd::testing::FakeCaps;
using nbd::testing::FakeDisk;

std::unique_ptr<Connection> emulated(FakeDisk& d) {
  auto c = Layer::open(d.open(), false);
  EXPECT_TRUE(c);
  return std::move(c).value();
}

TEST(Emulate, FuaByFlushWhenEmulated) {
  FakeCaps caps;
  caps.fua = FuaMode::Emulate;
  FakeDisk d(65536, caps);
  auto c = emulated(d);
  std::vector<std::byte> buf(512, std::byte{1});
  ASSERT_TRUE(c->pwrite(buf, 0, kFua));
  EXPECT_EQ(d.calls(), (std::vector<FakeCall>{{"pwrite", 0, 512, 0}, {"flush", 0, 0, 0}}));
}

TEST(Emulate, NativeFuaPassesTheFlag) {
  FakeDisk d(65536);
  auto c = emulated(d);
  std::vector<std::byte> buf(512);
  ASSERT_TRUE(c->pwrite(buf, 512, kFua));
  EXPECT_EQ(d.calls(), (std::vector<FakeCall>{{"pwrite", 512, 512, kFua}}));
}

TEST(Emulate, ZeroByWritingZeroesAndFastZeroFailsAtOnce) {
  FakeCaps caps;
  caps.zero = caps.fast_zero = false;
  FakeDisk d(3 << 20, caps);
  std::fill(d.bytes().begin(), d.bytes().end(), std::byte{0xff});
  auto c = emulated(d);
  EXPECT_EQ(*c->can_zero(), ZeroMode::Emulate);
  EXPECT_FALSE(*c->can_fast_zero());  // the fake answers false itself
  auto fast = c->zero(4096, 0, kFastZero);
  ASSERT_FALSE(fast);
  EXPECT_EQ(fast.error().errnum, ENOTSUP);
  EXPECT_TRUE(d.calls().empty());
  ASSERT_TRUE(c->zero((2 << 20) + 10, 5, 0));  // more than one 1 MiB chunk
  EXPECT_EQ(d.bytes()[4], std::byte{0xff});
  for (size_t i = 5; i < (2u << 20) + 15; ++i) ASSERT_EQ(d.bytes()[i], std::byte{0}) << i;
  EXPECT_EQ(d.bytes()[(2 << 20) + 15], std::byte{0xff});
  EXPECT_EQ(d.calls().size(), 3u);
}

TEST(Emulate, ZeroFallsBackWhenThePluginSaysNotSupported) {
  FakeDisk d(65536);
  std::fill(d.bytes().begin(), d.bytes().end(), std::byte{0xff});
  auto c = emulated(d);
  d.fail_next("zero", ENOTSUP);
  ASSERT_TRUE(c->zero(100, 0, 0));
  EXPECT_EQ(d.bytes()[99], std::byte{0});
  EXPECT_EQ(d.calls().back().op, "pwrite");
  d.fail_next("zero", ENOTSUP);
  auto fast = c->zero(100, 0, kFastZero);
  ASSERT_FALSE(fast);
  EXPECT_EQ(fast.error().errnum, ENOTSUP);
}

TEST(Emulate, CacheByReadingAndNoneIsInvalid) {
  FakeCaps caps;
  caps.cache = CacheMode::Emulate;
  FakeDisk d(65536, caps);
  auto c = emulated(d);
  ASSERT_TRUE(c->cache(4096, 0, 0));
  EXPECT_EQ(d.calls(), (std::vector<FakeCall>{{"pread", 0, 4096, 0}}));
  FakeCaps none;
  none.cache = CacheMode::None;
  FakeDisk d2(65536, none);
  auto c2 = emulated(d2);
  auto r = c2->cache(4096, 0, 0);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().errnum, EINVAL);
}

TEST(Emulate, ExtentsAsDataWhenUnsupported) {
  FakeCaps caps;
  caps.extents = false;
  FakeDisk d(65536, caps);
  auto c = emulated(d);
  ExtentList e(0, 65536);
  ASSERT_TRUE(c->extents(65536, 0, 0, e));
  ASSERT_EQ(e.extents().size(), 1u);
  EXPECT_EQ(e.extents()[0].flags, 0u);
  EXPECT_TRUE(d.calls().empty());
}

TEST(Emulate, ReadOnlyPluginCannotZeroOrWrite) {
  FakeCaps caps;
  caps.write = false;
  FakeDisk d(65536, caps);
  auto c = emulated(d);
  EXPECT_EQ(*c->can_zero(), ZeroMode::None);
  EXPECT_FALSE(*c->can_trim());
  EXPECT_EQ(*c->can_fua(), FuaMode::None);
  std::vector<std::byte> buf(1);
  auto r = c->pwrite(buf, 0, 0);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().errnum, EROFS);
}

TEST(Guard, ExceptionsBecomeEio) {
  Status s = guard("test", []() -> Status { throw std::runtime_error("boom"); });
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().errnum, EIO);
  EXPECT_NE(s.error().message.find("boom"), std::string::npos);
  Result<int> r = guard("test", []() -> Result<int> { throw 42; });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().errnum, EIO);
}

// A filter that claims "level" and records what it saw; a plugin that records its keys.
struct RecordingPlugin : Plugin {
  std::vector<std::string> seen;
  Status config(std::string_view k, std::string_view v) override {
    if (k == "size" || k == "mode") {
      seen.push_back(std::string(k) + "=" + std::string(v));
      return ok();
    }
    return Plugin::config(k, v);
  }
  ThreadModel thread_model() override { return ThreadModel::Parallel; }
  Result<std::unique_ptr<Connection>> open(const OpenParams&) override { return make_error(EIO, "unused"); }
};
struct LevelFilter : Filter {
  std::string level;
  Result<bool> config(std::string_view k, std::string_view v) override {
    if (k != "level") return false;
    if (v == "bad") return make_error(EINVAL, "level=bad: not a level");
    level = v;
    return true;
  }
  ThreadModel thread_model() override { return ThreadModel::SerializeRequests; }
};
const PluginInfo kRecInfo{"rec", "test plugin", "size", {}, nullptr};
const FilterInfo kLevelInfo{"level", "test filter", {}, nullptr};

TEST(Backend, RoutesParamsToFilterThenPluginAndNamesErrors) {
  auto p = std::make_unique<RecordingPlugin>();
  auto* plugin = p.get();
  std::vector<std::pair<const FilterInfo*, std::unique_ptr<Filter>>> fs;
  fs.emplace_back(&kLevelInfo, std::make_unique<LevelFilter>());
  auto* filter = static_cast<LevelFilter*>(fs[0].second.get());
  Backend b(kRecInfo, std::move(p), std::move(fs));
  ASSERT_TRUE(b.configure({{"", "1G"}, {"level", "3"}, {"mode", "x"}}));
  EXPECT_EQ(plugin->seen, (std::vector<std::string>{"size=1G", "mode=x"}));
  EXPECT_EQ(filter->level, "3");
  EXPECT_EQ(b.thread_model(), ThreadModel::SerializeRequests);  // strictest wins

  auto bad = b.configure({{"colour", "red"}});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message, "rec: unknown parameter 'colour'");
  auto badf = b.configure({{"level", "bad"}});
  ASSERT_FALSE(badf);
  EXPECT_EQ(badf.error().message, "level: level=bad: not a level");
  // Like upstream, every bare value (not only the first) goes to the magic key.
  plugin->seen.clear();
  ASSERT_TRUE(b.configure({{"", "1"}, {"", "2"}}));
  EXPECT_EQ(plugin->seen, (std::vector<std::string>{"size=1", "size=2"}));
}

}  // namespace
}  // namespace nbd::server
