// SPDX-License-Identifier: BSD-3-Clause
// zero plugin: a read-only export of length zero, for testing corner cases in servers and
// clients. Like upstream's (deprecated) nbdkit-zero-plugin; it takes no parameters.
#include <string>

#include "nbd/plugin.h"

namespace nbd::plugins {
namespace {

class ZeroConnection final : public Connection {
 public:
  Result<uint64_t> get_size() override { return uint64_t{0}; }
  Result<bool> can_multi_conn() override { return true; }
  Result<CacheMode> can_cache() override { return CacheMode::Native; }
  // The core rejects every ranged request on an empty export before it gets here.
  Status pread(std::span<std::byte>, uint64_t, uint32_t) override { return ok(); }
  Status cache(uint64_t, uint64_t, uint32_t) override { return ok(); }
};

class ZeroPlugin final : public Plugin {
 public:
  Status config(std::string_view key, std::string_view value) override {
    return make_error(EINVAL, "this plugin takes no parameters (got " + std::string(key) + "=" +
                                  std::string(value) + "; for a sized empty disk use the null plugin)");
  }
  Result<std::unique_ptr<Connection>> open(const OpenParams&) override {
    return std::unique_ptr<Connection>(std::make_unique<ZeroConnection>());
  }
};

}  // namespace

extern const PluginInfo zero_plugin_info;
const PluginInfo zero_plugin_info{
    .name = "zero",
    .description = "nbdkit zero length plugin",
    .magic_config_key = "",
    .params = {},
    .factory = [] { return std::unique_ptr<Plugin>(std::make_unique<ZeroPlugin>()); },
};

}  // namespace nbd::plugins
