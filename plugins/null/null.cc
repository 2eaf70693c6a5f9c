// SPDX-License-Identifier: BSD-3-Clause
// null plugin: an export of SIZE bytes that reads as zeroes and discards writes.
// The smallest complete plugin; its shape is the pattern for every other one.
#include <cstring>

#include "common/sized_plugin.h"
#include "nbd/plugin.h"

namespace nbd::plugins {
namespace {

class NullConnection final : public Connection {
 public:
  explicit NullConnection(uint64_t size) : size_(size) {}
  Result<uint64_t> get_size() override { return size_; }
  Result<bool> can_write() override { return true; }
  Result<bool> can_flush() override { return true; }
  Result<bool> can_trim() override { return true; }
  Result<bool> can_zero() override { return true; }
  Result<bool> can_fast_zero() override { return true; }
  Result<bool> can_extents() override { return true; }
  Result<FuaMode> can_fua() override { return FuaMode::Native; }
  Result<bool> can_multi_conn() override { return true; }
  Result<CacheMode> can_cache() override { return CacheMode::Native; }

  Status pread(std::span<std::byte> buf, uint64_t, uint32_t) override {
    std::memset(buf.data(), 0, buf.size());
    return ok();
  }
  Status pwrite(std::span<const std::byte>, uint64_t, uint32_t) override { return ok(); }
  Status flush(uint32_t) override { return ok(); }
  Status trim(uint64_t, uint64_t, uint32_t) override { return ok(); }
  Status zero(uint64_t, uint64_t, uint32_t) override { return ok(); }
  Status cache(uint64_t, uint64_t, uint32_t) override { return ok(); }
  Status extents(uint64_t count, uint64_t offset, uint32_t, ExtentList& e) override {
    return e.add(offset, count, kExtentHole | kExtentZero);
  }

 private:
  uint64_t size_;
};

constexpr ParamHelp kParams[] = {
    {"size", "[size=]SIZE  Size of the virtual disk (default 0)."},
};

}  // namespace

extern const PluginInfo null_plugin_info;
const PluginInfo null_plugin_info{
    .name = "null",
    .description = "nbdkit null plugin: reads as zeroes, discards writes",
    .magic_config_key = "size",
    .params = kParams,
    .factory = [] { return std::unique_ptr<Plugin>(std::make_unique<SizedPlugin<NullConnection>>()); },
};

}  // namespace nbd::plugins
