// SPDX-License-Identifier: BSD-3-Clause
// memory plugin: a RAM disk of SIZE bytes held by an allocator (sparse by default), shared by
// every client and discarded when the server exits. Like upstream's nbdkit-memory-plugin.
#include <string>

#include "common/allocator.h"
#include "nbd/parse.h"
#include "nbd/plugin.h"

namespace nbd::plugins {
namespace {

class MemoryConnection final : public Connection {
 public:
  MemoryConnection(Allocator& a, uint64_t size) : a_(a), size_(size) {}
  Result<uint64_t> get_size() override { return size_; }
  Result<bool> can_write() override { return true; }
  Result<bool> can_flush() override { return true; }
  Result<bool> can_trim() override { return true; }
  Result<bool> can_zero() override { return true; }
  Result<bool> can_fast_zero() override { return true; }
  Result<bool> can_extents() override { return true; }
  // Data lives in RAM, so there is nothing to persist: FUA and flush are no-ops.
  Result<FuaMode> can_fua() override { return FuaMode::Native; }
  Result<bool> can_multi_conn() override { return true; }
  Result<CacheMode> can_cache() override { return CacheMode::Native; }

  Status pread(std::span<std::byte> buf, uint64_t offset, uint32_t) override { return a_.read(buf, offset); }
  Status pwrite(std::span<const std::byte> buf, uint64_t offset, uint32_t) override {
    return a_.write(buf, offset);
  }
  Status flush(uint32_t) override { return ok(); }
  // Zeroing only drops or clears memory, so it is always fast.
  Status trim(uint64_t count, uint64_t offset, uint32_t) override { return a_.zero(count, offset); }
  Status zero(uint64_t count, uint64_t offset, uint32_t) override { return a_.zero(count, offset); }
  Status cache(uint64_t, uint64_t, uint32_t) override { return ok(); }
  Status extents(uint64_t count, uint64_t offset, uint32_t, ExtentList& e) override {
    return a_.extents(count, offset, e);
  }

 private:
  Allocator& a_;
  uint64_t size_;
};

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
    return std::unique_ptr<Connection>(std::make_unique<MemoryConnection>(*allocator_, size_));
  }

  std::vector<std::string> dump_plugin() override { return {"mlock=yes", "zstd=no"}; }

 private:
  uint64_t size_ = 0;
  bool have_size_ = false;
  std::unique_ptr<Allocator> allocator_;
};

constexpr ParamHelp kParams[] = {
    {"size", "[size=]SIZE  Size of the RAM disk (required, up to 2^63-1)."},
    {"allocator", "allocator=sparse|malloc[,mlock=true]  How the RAM is held (default sparse)."},
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
