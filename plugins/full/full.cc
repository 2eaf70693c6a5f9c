// SPDX-License-Identifier: BSD-3-Clause
// full plugin: a disk that has run out of space. Reads return zeroes; writes, zeroes and
// trims fail with ENOSPC. Like upstream's nbdkit-full-plugin.
#include <cstring>

#include "nbd/plugin.h"
#include "runtime/sized_plugin.h"

namespace nbd::plugins {
namespace {

Error no_space() { return make_error(ENOSPC, "the disk is full"); }

class FullConnection final : public Connection {
 public:
  explicit FullConnection(uint64_t size) : size_(size) {}
  Result<uint64_t> get_size() override { return size_; }
  Result<bool> can_write() override { return true; }
  Result<bool> can_trim() override { return true; }
  Result<ZeroMode> can_zero() override { return ZeroMode::Native; }
  Result<bool> can_fast_zero() override { return true; }
  Result<bool> can_extents() override { return true; }
  Result<bool> can_multi_conn() override { return true; }
  Result<CacheMode> can_cache() override { return CacheMode::Native; }

  Status pread(std::span<std::byte> buf, uint64_t, uint32_t) override {
    std::memset(buf.data(), 0, buf.size());
    return ok();
  }
  Status pwrite(std::span<const std::byte>, uint64_t, uint32_t) override { return no_space(); }
  Status trim(uint64_t, uint64_t, uint32_t) override { return no_space(); }
  Status zero(uint64_t, uint64_t, uint32_t flags) override {
    // A fast zero must say "not fast" rather than fail differently from a slow one.
    if (flags & kFastZero) return make_error(ENOTSUP, "zeroing cannot be fast on a full disk");
    return no_space();
  }
  Status cache(uint64_t, uint64_t, uint32_t) override { return ok(); }
  Status extents(uint64_t count, uint64_t offset, uint32_t, ExtentList& e) override {
    return e.add(offset, count, kExtentHole | kExtentZero);
  }

 private:
  uint64_t size_;
};

constexpr ParamHelp kParams[] = {
    {"size", "[size=]SIZE  Size of the virtual disk (required)."},
};

}  // namespace

extern const PluginInfo full_plugin_info;
const PluginInfo full_plugin_info{
    .name = "full",
    .description = "nbdkit plugin which is always full: reads zeroes, writes fail with ENOSPC",
    .magic_config_key = "size",
    .params = kParams,
    .factory = [] { return std::unique_ptr<Plugin>(std::make_unique<SizedPlugin<FullConnection>>("full")); },
};

}  // namespace nbd::plugins
