// SPDX-License-Identifier: BSD-3-Clause
// sparse-random plugin: a disk shaped like a VM image (runs of random data between holes),
// computed from a seed on demand. Writes and zeroes are checked against what the disk would
// serve, so one instance can be both source and destination of a copy test.
#include <cerrno>
#include <cstdlib>
#include <random>
#include <string>

#include "nbd/log.h"
#include "nbd/parse.h"
#include "nbd/plugin.h"
#include "sparse_random_layout.h"

namespace nbd::plugins {
namespace {

using sparse_random::Layout;

class SparseRandomConnection final : public Connection {
 public:
  explicit SparseRandomConnection(const Layout& layout) : layout_(layout) {}
  Result<uint64_t> get_size() override { return layout_.size(); }
  Result<bool> can_write() override { return true; }
  Result<bool> can_flush() override { return true; }
  Result<bool> can_trim() override { return true; }
  Result<ZeroMode> can_zero() override { return ZeroMode::Native; }
  Result<bool> can_extents() override { return true; }
  Result<FuaMode> can_fua() override { return FuaMode::Native; }
  Result<bool> can_multi_conn() override { return true; }
  Result<CacheMode> can_cache() override { return CacheMode::Native; }

  Status pread(std::span<std::byte> buf, uint64_t offset, uint32_t) override {
    layout_.read(buf, offset);
    return ok();
  }
  Status pwrite(std::span<const std::byte> buf, uint64_t offset, uint32_t) override {
    if (layout_.matches(buf, offset)) return ok();
    return mismatch("write", buf.size(), offset);
  }
  Status zero(uint64_t count, uint64_t offset, uint32_t) override {
    if (layout_.reads_as_zero(count, offset)) return ok();
    return mismatch("zero", count, offset);
  }
  // Trimmed bytes have no defined content, so a trim can never contradict the disk.
  Status trim(uint64_t, uint64_t, uint32_t) override { return ok(); }
  Status flush(uint32_t) override { return ok(); }
  Status cache(uint64_t, uint64_t, uint32_t) override { return ok(); }
  Status extents(uint64_t count, uint64_t offset, uint32_t, ExtentList& e) override {
    return layout_.extents(count, offset, e);
  }

 private:
  static Error mismatch(const char* what, uint64_t count, uint64_t offset) {
    return make_error(EIO, std::string(what) + " of " + std::to_string(count) + " bytes at offset " +
                               std::to_string(offset) + " does not match the disk's content");
  }
  const Layout& layout_;
};

Result<double> parse_percent(std::string_view value) {
  std::string s(value);
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(s.c_str(), &end);
  if (s.empty() || errno != 0 || *end != '\0' || !(v >= 0 && v <= 100))
    return make_error(EINVAL, "percent=" + s + ": expected a number from 0 to 100");
  return v;
}

class SparseRandomPlugin final : public Plugin {
 public:
  Status config(std::string_view key, std::string_view value) override {
    if (key == "size") {
      NBD_TRY_ASSIGN(params_.size, parse_size(key, value));
      have_size_ = true;
    } else if (key == "seed") {
      NBD_TRY_ASSIGN(params_.seed, parse_uint64(key, value));
      have_seed_ = true;
    } else if (key == "percent") {
      NBD_TRY_ASSIGN(params_.percent, parse_percent(value));
    } else if (key == "runlength") {
      NBD_TRY_ASSIGN(params_.runlength, parse_size(key, value));
      if (params_.runlength == 0) return make_error(EINVAL, "runlength=0: the run length must be at least 1");
    } else if (key == "random-content") {
      NBD_TRY_ASSIGN(params_.random_content, parse_bool(key, value));
    } else {
      return Plugin::config(key, value);
    }
    return ok();
  }

  Status config_complete() override {
    if (!have_size_) return make_error(EINVAL, "size= is required (e.g. sparse-random 1G)");
    if (!have_seed_) params_.seed = (uint64_t{std::random_device{}()} << 32) ^ std::random_device{}();
    log::debug("sparse-random: seed=%llu", static_cast<unsigned long long>(params_.seed));
    layout_ = std::make_unique<Layout>(params_);
    return ok();
  }

  Result<std::unique_ptr<Connection>> open(const OpenParams&) override {
    return std::unique_ptr<Connection>(std::make_unique<SparseRandomConnection>(*layout_));
  }

 private:
  sparse_random::Params params_;
  bool have_size_ = false;
  bool have_seed_ = false;
  std::unique_ptr<Layout> layout_;
};

constexpr ParamHelp kParams[] = {
    {"size", "[size=]SIZE  Size of the virtual disk (required)."},
    {"seed", "seed=SEED  Random seed: the same seed gives the same disk (default: random)."},
    {"percent", "percent=N  Percentage of the disk holding data, 0 to 100 (default 10)."},
    {"runlength", "runlength=N  Average length of a data run in bytes (default 16M)."},
    {"random-content", "random-content=true  Random bytes in each block instead of one repeated byte."},
};

}  // namespace

extern const PluginInfo sparse_random_plugin_info;
const PluginInfo sparse_random_plugin_info{
    .name = "sparse-random",
    .description = "nbdkit sparse-random plugin: sparse disks of random data, checking writes",
    .magic_config_key = "size",
    .params = kParams,
    .factory = [] { return std::unique_ptr<Plugin>(std::make_unique<SparseRandomPlugin>()); },
};

}  // namespace nbd::plugins
