// SPDX-License-Identifier: BSD-3-Clause
// The struct nbdkit_plugin adapter on plugins defined in the test: upstream's defaults for
// missing callbacks, flag translation, 32-bit splitting, errors, API version 1, _struct_size.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstring>
#include <string>
#include <vector>

#define NBDKIT_API_VERSION 2
#include "nbdkit-plugin.h"
#include "server/cabi/cabi.h"

namespace cabi = nbd::server::cabi;

namespace {

struct Call {
  std::string what;
  uint64_t count, offset;
  uint32_t flags;
};
std::vector<Call> g_calls;

void* open_any(int) { return NBDKIT_HANDLE_NOT_NEEDED; }
int64_t size_8g(void*) { return int64_t(8) << 30; }
int pread_zeroes(void*, void* buf, uint32_t n, uint64_t off, uint32_t flags) {
  memset(buf, 0, n);
  g_calls.push_back({"pread", n, off, flags});
  return 0;
}

// Only the required callbacks.
nbdkit_plugin minimal() {
  nbdkit_plugin p{};
  p._struct_size = sizeof p;
  p._api_version = 2;
  p._thread_model = NBDKIT_THREAD_MODEL_PARALLEL;
  p.name = "minimal";
  p.open = open_any;
  p.get_size = size_8g;
  p.pread = pread_zeroes;
  return p;
}

nbdkit_plugin g_plugin;
nbdkit_plugin* init_plugin() { return &g_plugin; }

std::unique_ptr<nbd::Connection> open_plugin(const nbdkit_plugin& p, std::unique_ptr<nbd::Plugin>* keep) {
  g_plugin = p;
  auto info = cabi::load_c_plugin(init_plugin, "test.so");
  EXPECT_TRUE(info) << (info ? "" : info.error().message);
  if (!info) return nullptr;
  *keep = (*info)->factory();
  auto c = (*keep)->open(nbd::OpenParams{});
  EXPECT_TRUE(c);
  return c ? std::move(*c) : nullptr;
}

TEST(CPlugin, MissingCallbacksGetUpstreamDefaults) {
  std::unique_ptr<nbd::Plugin> plugin;
  auto c = open_plugin(minimal(), &plugin);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->get_size().value(), uint64_t(8) << 30);
  EXPECT_FALSE(c->can_write().value());
  EXPECT_FALSE(c->can_flush().value());
  EXPECT_FALSE(c->can_trim().value());
  EXPECT_FALSE(c->can_extents().value());
  EXPECT_FALSE(c->can_multi_conn().value());
  EXPECT_EQ(c->can_zero().value(), nbd::ZeroMode::Emulate);
  EXPECT_TRUE(c->can_fast_zero().value()) << "without zero, a fast zero fails at once";
  EXPECT_EQ(c->can_fua().value(), nbd::FuaMode::None);
  EXPECT_EQ(c->can_cache().value(), nbd::CacheMode::None);
  auto exports = plugin->list_exports(false, false);
  ASSERT_TRUE(exports);
  ASSERT_EQ(exports->size(), 1u);
  EXPECT_EQ((*exports)[0].name, "");
  EXPECT_EQ(plugin->thread_model(), nbd::ThreadModel::Parallel);
}

TEST(CPlugin, CallbacksPresentMeanCapabilities) {
  auto p = minimal();
  p.pwrite = [](void*, const void*, uint32_t n, uint64_t off, uint32_t f) {
    g_calls.push_back({"pwrite", n, off, f});
    return 0;
  };
  p.flush = [](void*, uint32_t) { return 0; };
  p.trim = [](void*, uint32_t n, uint64_t off, uint32_t f) {
    g_calls.push_back({"trim", n, off, f});
    return 0;
  };
  p.zero = [](void*, uint32_t n, uint64_t off, uint32_t f) {
    g_calls.push_back({"zero", n, off, f});
    return 0;
  };
  p.cache = [](void*, uint32_t, uint64_t, uint32_t) { return 0; };
  p.extents = [](void*, uint32_t, uint64_t off, uint32_t, nbdkit_extents* e) {
    return nbdkit_add_extent(e, off, 4096, NBDKIT_EXTENT_HOLE);
  };
  p.thread_model = [] { return NBDKIT_THREAD_MODEL_SERIALIZE_REQUESTS; };
  std::unique_ptr<nbd::Plugin> plugin;
  auto c = open_plugin(p, &plugin);
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->can_write().value());
  EXPECT_TRUE(c->can_flush().value());
  EXPECT_TRUE(c->can_trim().value());
  EXPECT_TRUE(c->can_extents().value());
  EXPECT_EQ(c->can_zero().value(), nbd::ZeroMode::Native);
  EXPECT_FALSE(c->can_fast_zero().value());
  EXPECT_EQ(c->can_fua().value(), nbd::FuaMode::Emulate) << "emulated by flush";
  EXPECT_EQ(c->can_cache().value(), nbd::CacheMode::Native);
  EXPECT_EQ(plugin->thread_model(), nbd::ThreadModel::SerializeRequests);

  // Our flag bits become NBDKIT_FLAG_* bits.
  g_calls.clear();
  std::byte buf[512]{};
  ASSERT_TRUE(c->pwrite(buf, 4096, nbd::kFua));
  ASSERT_TRUE(c->zero(512, 0, nbd::kMayTrim | nbd::kFastZero));
  ASSERT_EQ(g_calls.size(), 2u);
  EXPECT_EQ(g_calls[0].flags, uint32_t(NBDKIT_FLAG_FUA));
  EXPECT_EQ(g_calls[1].flags, uint32_t(NBDKIT_FLAG_MAY_TRIM | NBDKIT_FLAG_FAST_ZERO));

  // A 5 GiB trim reaches a 32-bit callback as 2 + 2 + 1 GiB.
  g_calls.clear();
  ASSERT_TRUE(c->trim(uint64_t(5) << 30, 1024, 0));
  ASSERT_EQ(g_calls.size(), 3u);
  EXPECT_EQ(g_calls[0].count, uint64_t(2) << 30);
  EXPECT_EQ(g_calls[1].offset, 1024 + (uint64_t(2) << 30));
  EXPECT_EQ(g_calls[2].count, uint64_t(1) << 30);

  nbd::ExtentList list(0, 8192);
  ASSERT_TRUE(c->extents(8192, 0, 0, list));
  ASSERT_EQ(list.extents().size(), 1u);
  EXPECT_EQ(list.extents()[0].flags, nbd::kExtentHole);
}

TEST(CPlugin, FailureCarriesErrnoAndMessage) {
  auto p = minimal();
  p.pread = [](void*, void*, uint32_t, uint64_t off, uint32_t) {
    nbdkit_error("bad sector at %llu", (unsigned long long)off);
    nbdkit_set_error(ENOSPC);
    return -1;
  };
  p.can_write = [](void*) {
    errno = EROFS;
    return -1;
  };
  std::unique_ptr<nbd::Plugin> plugin;
  auto c = open_plugin(p, &plugin);
  ASSERT_TRUE(c);
  std::byte buf[512];
  nbd::Status s = c->pread(buf, 1536, 0);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().errnum, ENOSPC);
  EXPECT_EQ(s.error().message, "bad sector at 1536");
  auto w = c->can_write();
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().errnum, EIO) << "errno only counts with errno_is_preserved";
  EXPECT_EQ(w.error().message, "can_write failed");
}

TEST(CPlugin, ApiVersion1Callbacks) {
  auto p = minimal();
  p._api_version = 1;
  p.pread = nullptr;
  p._pread_v1 = [](void*, void* buf, uint32_t n, uint64_t off) {
    memset(buf, 'v', n);
    g_calls.push_back({"pread_v1", n, off, 0});
    return 0;
  };
  p._zero_v1 = [](void*, uint32_t n, uint64_t off, int may_trim) {
    g_calls.push_back({"zero_v1", n, off, uint32_t(may_trim)});
    return 0;
  };
  p._pwrite_v1 = [](void*, const void*, uint32_t, uint64_t) { return 0; };
  p.can_fua = [](void*) { return NBDKIT_FUA_NATIVE; };
  std::unique_ptr<nbd::Plugin> plugin;
  auto c = open_plugin(p, &plugin);
  ASSERT_TRUE(c);
  g_calls.clear();
  std::byte buf[4];
  ASSERT_TRUE(c->pread(buf, 8, 0));
  EXPECT_EQ(char(buf[0]), 'v');
  ASSERT_TRUE(c->zero(512, 0, nbd::kMayTrim));
  ASSERT_EQ(g_calls.size(), 2u);
  EXPECT_EQ(g_calls[1].flags, 1u) << "may_trim";
  EXPECT_EQ(c->zero(512, 0, nbd::kFastZero).error().errnum, ENOTSUP)
      << "version 1 cannot promise a fast zero";
  EXPECT_TRUE(c->can_write().value());
  EXPECT_EQ(c->can_fua().value(), nbd::FuaMode::Emulate) << "a version 1 pwrite has no FUA flag";
}

TEST(CPlugin, FieldsPastStructSizeAreAbsent) {
  auto p = minimal();
  p.can_multi_conn = [](void*) { return 1; };
  p._struct_size = offsetof(nbdkit_plugin, can_multi_conn);
  std::unique_ptr<nbd::Plugin> plugin;
  auto c = open_plugin(p, &plugin);
  ASSERT_TRUE(c);
  EXPECT_FALSE(c->can_multi_conn().value());
}

TEST(CPlugin, BrokenRecordsAreRefused) {
  auto p = minimal();
  p._api_version = 3;
  g_plugin = p;
  auto r = cabi::load_c_plugin(init_plugin, "v3.so");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("API version 3"), std::string::npos);
  p = minimal();
  p.get_size = nullptr;
  g_plugin = p;
  r = cabi::load_c_plugin(init_plugin, "nosize.so");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("get_size"), std::string::npos);
}

TEST(CPlugin, ConfigKeepsItsStringsAndNamesBadKeys) {
  static const char* kept = nullptr;
  auto p = minimal();
  p.config = [](const char* key, const char* value) {
    if (strcmp(key, "file") != 0) {
      nbdkit_error("unknown parameter '%s'", key);
      return -1;
    }
    kept = value;
    return 0;
  };
  p.config_help = "file=PATH  the file\nsize=SIZE  its size";
  g_plugin = p;
  auto info = cabi::load_c_plugin(init_plugin, "config.so");
  ASSERT_TRUE(info);
  ASSERT_EQ((*info)->params.size(), 2u);
  EXPECT_EQ((*info)->params[1].key, "size");
  auto plugin = (*info)->factory();
  {
    std::string v = "/tmp/disk.img";
    ASSERT_TRUE(plugin->config("file", v));
  }
  EXPECT_STREQ(kept, "/tmp/disk.img") << "upstream plugins keep argv pointers";
  auto s = plugin->config("colour", "blue");
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message, "unknown parameter 'colour'");
}

}  // namespace
