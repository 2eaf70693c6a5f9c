// SPDX-License-Identifier: BSD-3-Clause
// null plugin: an export of SIZE bytes that reads as zeroes and discards writes.
// The whole range is reported as a hole.
#include "nbd/plugin.h"
#include "runtime/memory_like_connection.h"
#include "runtime/sized_plugin.h"

namespace nbd::plugins {
namespace {

class NullConnection final : public FillConnection {
 public:
  explicit NullConnection(uint64_t size) : FillConnection(size, std::byte{0}, kExtentHole | kExtentZero) {}
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
