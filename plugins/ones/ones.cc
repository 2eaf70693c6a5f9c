// SPDX-License-Identifier: BSD-3-Clause
// ones plugin: reads return 0xff (or byte=N) everywhere and writes are discarded.
// Like upstream's nbdkit-ones-plugin (nbdkit >= 1.36).
#include <string>

#include "nbd/parse.h"
#include "nbd/plugin.h"
#include "runtime/memory_like_connection.h"

namespace nbd::plugins {
namespace {

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
    // Everything reads as the byte and is reported as data, as upstream.
    return std::unique_ptr<Connection>(std::make_unique<FillConnection>(size_, byte_, 0));
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
