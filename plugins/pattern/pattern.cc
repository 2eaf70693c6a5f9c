// SPDX-License-Identifier: BSD-3-Clause
// pattern plugin: a read-only disk where every 8-byte aligned offset holds its own offset as
// a big-endian 64-bit number. Like upstream's nbdkit-pattern-plugin; generated straight into
// the reply buffer because sequential reads of it are a benchmark.
#include "pattern.h"

#include <algorithm>
#include <bit>
#include <cstring>

#include "nbd/plugin.h"
#include "runtime/sized_plugin.h"

namespace nbd::plugins {
namespace {

inline uint64_t to_be64(uint64_t v) {
  if constexpr (std::endian::native == std::endian::little) return __builtin_bswap64(v);
  return v;
}

}  // namespace

void fill_pattern(std::span<std::byte> buf, uint64_t offset) {
  std::byte* p = buf.data();
  size_t n = buf.size();
  uint64_t word = offset & ~uint64_t{7};
  if (size_t skip = offset & 7; skip != 0 && n > 0) {
    uint64_t be = to_be64(word);
    size_t k = std::min(n, 8 - skip);
    std::memcpy(p, reinterpret_cast<const std::byte*>(&be) + skip, k);
    p += k;
    n -= k;
    word += 8;
  }
  size_t words = n / 8;
  for (size_t i = 0; i < words; ++i) {  // vectorised by the compiler
    uint64_t be = to_be64(word + i * 8);
    std::memcpy(p + i * 8, &be, 8);
  }
  p += words * 8;
  n -= words * 8;
  if (n > 0) {
    uint64_t be = to_be64(word + words * 8);
    std::memcpy(p, &be, n);
  }
}

namespace {

class PatternConnection final : public Connection {
 public:
  explicit PatternConnection(uint64_t size) : size_(size) {}
  Result<uint64_t> get_size() override { return size_; }
  Result<bool> can_multi_conn() override { return true; }
  Result<CacheMode> can_cache() override { return CacheMode::Native; }
  Status pread(std::span<std::byte> buf, uint64_t offset, uint32_t) override {
    fill_pattern(buf, offset);
    return ok();
  }
  Status cache(uint64_t, uint64_t, uint32_t) override { return ok(); }

 private:
  uint64_t size_;
};

constexpr ParamHelp kParams[] = {
    {"size", "[size=]SIZE  Size of the virtual disk (default 0, up to 2^63-1)."},
};

}  // namespace

extern const PluginInfo pattern_plugin_info;
const PluginInfo pattern_plugin_info{
    .name = "pattern",
    .description = "nbdkit plugin serving a fixed pattern: each 8-byte offset as a big-endian number",
    .magic_config_key = "size",
    .params = kParams,
    .factory = [] { return std::unique_ptr<Plugin>(std::make_unique<SizedPlugin<PatternConnection>>()); },
};

}  // namespace nbd::plugins
