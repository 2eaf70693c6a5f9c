// SPDX-License-Identifier: BSD-3-Clause
// random plugin: a non-sparse disk of reproducible pseudo-random bytes (seed=). Writes are
// accepted only if they match what is there (EIO otherwise), so `nbdcopy $uri $uri` tests a
// copier. Like upstream's nbdkit-random-plugin, with the same bytes for the same seed (random.h).
#include "random.h"

#include <algorithm>
#include <cstring>
#include <random>

#include "common/random.h"
#include "nbd/log.h"
#include "nbd/parse.h"
#include "nbd/plugin.h"

namespace nbd::plugins {

void fill_random(std::span<std::byte> buf, uint64_t offset, uint64_t seed) {
  // Upstream's recipe for byte i: state words s0..s3 = SplitMix64 of x + G, x + 2G, x + 3G,
  // x + 4G (x = seed + i), three xoshiro256** steps, the low byte of the third result. Worked
  // through the two discarded steps, the third result is rotl(((s1 << 17) ^ s0 ^ s3) * 5, 7) * 9:
  // s2 drops out, so three SplitMix64 outputs a byte. random_test.cc checks this against the
  // recipe step by step. No state carries from byte to byte, so the loop vectorises.
  constexpr uint64_t G = 0x9e3779b97f4a7c15ULL;
  const uint64_t base = seed + offset;
  for (size_t i = 0; i < buf.size(); ++i) {
    const uint64_t x = base + i;
    const uint64_t s0 = mix64(x), s1 = mix64(x + G), s3 = mix64(x + 3 * G);
    const uint64_t v = ((s1 << 17) ^ s0 ^ s3) * 5;
    buf[i] = static_cast<std::byte>((((v << 7) | (v >> 57)) * 9) & 0xff);
  }
}

namespace {

Error not_sparse() { return make_error(EIO, "attempt to trim or zero the non-sparse random disk"); }

class RandomConnection final : public Connection {
 public:
  RandomConnection(uint64_t size, uint64_t seed) : size_(size), seed_(seed) {}
  Result<uint64_t> get_size() override { return size_; }
  Result<bool> can_write() override { return true; }
  Result<bool> can_trim() override { return true; }
  Result<ZeroMode> can_zero() override { return ZeroMode::Native; }
  Result<bool> can_multi_conn() override { return true; }
  Result<CacheMode> can_cache() override { return CacheMode::Native; }

  Status pread(std::span<std::byte> buf, uint64_t offset, uint32_t) override {
    fill_random(buf, offset, seed_);
    return ok();
  }
  Status pwrite(std::span<const std::byte> buf, uint64_t offset, uint32_t) override {
    std::byte want[4096];
    for (size_t done = 0; done < buf.size();) {
      size_t n = std::min(sizeof want, buf.size() - done);
      fill_random({want, n}, offset + done, seed_);
      if (std::memcmp(want, buf.data() + done, n) != 0) {
        return make_error(EIO, "data written does not match expected at offset " +
                                   std::to_string(offset + done) + " or after");
      }
      done += n;
    }
    return ok();
  }
  Status trim(uint64_t, uint64_t, uint32_t) override { return not_sparse(); }
  Status zero(uint64_t, uint64_t, uint32_t) override { return not_sparse(); }
  Status cache(uint64_t, uint64_t, uint32_t) override { return ok(); }

 private:
  uint64_t size_, seed_;
};

class RandomPlugin final : public Plugin {
 public:
  Status config(std::string_view key, std::string_view value) override {
    if (key == "size") {
      NBD_TRY_ASSIGN(size_, parse_size(key, value));
      return ok();
    }
    if (key == "seed") {
      NBD_TRY_ASSIGN(seed_, parse_uint64(key, value));
      have_seed_ = true;
      return ok();
    }
    return Plugin::config(key, value);
  }
  Status config_complete() override {
    if (!have_seed_) {
      // One seed per server run: every connection must see the same disk.
      std::random_device rd;
      seed_ = (uint64_t{rd()} << 32) ^ rd();
      log::debug("random: seed=%llu", static_cast<unsigned long long>(seed_));
    }
    return ok();
  }
  Result<std::unique_ptr<Connection>> open(const OpenParams&) override {
    return std::unique_ptr<Connection>(std::make_unique<RandomConnection>(size_, seed_));
  }

 private:
  uint64_t size_ = 0, seed_ = 0;
  bool have_seed_ = false;
};

constexpr ParamHelp kParams[] = {
    {"size", "[size=]SIZE  Size of the virtual disk (default 0)."},
    {"seed", "seed=SEED  Random seed, for the same data on every run (default: chosen at start)."},
};

}  // namespace

extern const PluginInfo random_plugin_info;
const PluginInfo random_plugin_info{
    .name = "random",
    .description = "nbdkit plugin serving reproducible random data; writes must match it",
    .magic_config_key = "size",
    .params = kParams,
    .factory = [] { return std::unique_ptr<Plugin>(std::make_unique<RandomPlugin>()); },
};

}  // namespace nbd::plugins
