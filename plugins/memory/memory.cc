// SPDX-License-Identifier: BSD-3-Clause
// memory plugin: a RAM disk of SIZE bytes held by an allocator (sparse by default), shared by
// every client and discarded when the server exits. Like upstream's nbdkit-memory-plugin.
#include <string>

#include "nbd/parse.h"
#include "nbd/plugin.h"
#include "runtime/allocator.h"

namespace nbd::plugins {
namespace {

class MemoryPlugin final : public Plugin {
 public:
  Status config(std::string_view key, std::string_view value) override {
    if (key == "size") {
      NBD_TRY_ASSIGN(size_, parse_size(key, value));  // at most 2^63-1, like upstream
      have_size_ = true;
      return ok();
    }
    if (key == "allocator") {
      NBD_TRY_ASSIGN(allocator_, create_allocator(value));
      return ok();
    }
    return Plugin::config(key, value);
  }

  Status config_complete() override {
    if (!have_size_) return make_error(EINVAL, "size parameter is required (eg. memory 1G)");
    if (!allocator_) {
      NBD_TRY_ASSIGN(allocator_, create_allocator("sparse"));
    }
    return allocator_->set_size_hint(size_);
  }

  Result<std::unique_ptr<Connection>> open(const OpenParams&) override {
    return std::unique_ptr<Connection>(std::make_unique<AllocatorConnection>(*allocator_, size_));
  }

  std::vector<std::string> dump_plugin() override { return {"mlock=yes", "zstd=yes"}; }

 private:
  uint64_t size_ = 0;
  bool have_size_ = false;
  std::unique_ptr<Allocator> allocator_;
};

constexpr ParamHelp kParams[] = {
    {"size", "[size=]SIZE  Size of the RAM disk (required, up to 2^63-1)."},
    {"allocator", "allocator=sparse|malloc[,mlock=true]|zstd  How the RAM is held (default sparse)."},
};

}  // namespace

extern const PluginInfo memory_plugin_info;
const PluginInfo memory_plugin_info{
    .name = "memory",
    .description = "nbdkit virtual memory (RAM disk) plugin",
    .magic_config_key = "size",
    .params = kParams,
    .factory = [] { return std::unique_ptr<Plugin>(std::make_unique<MemoryPlugin>()); },
};

}  // namespace nbd::plugins
