// SPDX-License-Identifier: BSD-3-Clause
// ones plugin: reads return 0xff (or byte=N) everywhere and writes are discarded.
// Like upstream's nbdkit-ones-plugin (nbdkit >= 1.36).
#include <cstring>
#include <string>

#include "nbd/parse.h"
#include "nbd/plugin.h"

namespace nbd::plugins {
namespace {

class OnesConnection final : public Connection {
 public:
  OnesConnection(uint64_t size, std::byte b) : size_(size), byte_(b) {}
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
    std::memset(buf.data(), static_cast<int>(byte_), buf.size());
    return ok();
  }
  // Everything written is thrown away; the disk keeps reading as the byte.
  Status pwrite(std::span<const std::byte>, uint64_t, uint32_t) override { return ok(); }
  Status flush(uint32_t) override { return ok(); }
  Status trim(uint64_t, uint64_t, uint32_t) override { return ok(); }
  Status zero(uint64_t, uint64_t, uint32_t) override { return ok(); }
  Status cache(uint64_t, uint64_t, uint32_t) override { return ok(); }
  Status extents(uint64_t count, uint64_t offset, uint32_t, ExtentList& e) override {
    return e.add(offset, count, 0);  // fully allocated data
  }

 private:
  uint64_t size_;
  std::byte byte_;
};

class OnesPlugin final : public Plugin {
 public:
  Status config(std::string_view key, std::string_view value) override {
    if (key == "size") {
      NBD_TRY_ASSIGN(size_, parse_size(key, value));
      return ok();
    }
    if (key == "byte") {
      NBD_TRY_ASSIGN(uint32_t b, parse_uint32(key, value));
      if (b > 255) return make_error(EINVAL, "byte=" + std::string(value) + ": must be between 0 and 255");
      byte_ = std::byte(b);
      return ok();
    }
    return Plugin::config(key, value);
  }
  Result<std::unique_ptr<Connection>> open(const OpenParams&) override {
    return std::unique_ptr<Connection>(std::make_unique<OnesConnection>(size_, byte_));
  }

 private:
  uint64_t size_ = 0;
  std::byte byte_{0xff};
};

constexpr ParamHelp kParams[] = {
    {"size", "[size=]SIZE  Size of the virtual disk (default 0)."},
    {"byte", "byte=N  The byte every read returns, 0-255 (default 0xff)."},
};

}  // namespace

extern const PluginInfo ones_plugin_info;
const PluginInfo ones_plugin_info{
    .name = "ones",
    .description = "nbdkit plugin filled with repeated 0xff or other bytes",
    .magic_config_key = "size",
    .params = kParams,
    .factory = [] { return std::unique_ptr<Plugin>(std::make_unique<OnesPlugin>()); },
};

}  // namespace nbd::plugins
