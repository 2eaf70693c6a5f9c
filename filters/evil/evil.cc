// SPDX-License-Identifier: BSD-3-Clause
// evil filter: corrupts data on its way back from reads, like upstream's nbdkit-evil-filter:
// random bit flips (cosmic-rays), bits of the disk stuck high or low (stuck-bits), or bits of
// the read buffer stuck at fixed positions (stuck-wires). Writes are never changed.
#include <cmath>
#include <mutex>
#include <random>
#include <string>

#include "nbd/filter.h"
#include "nbd/parse.h"

namespace nbd::filters {
namespace {

enum class Mode { CosmicRays, StuckBits, StuckWires };

// splitmix64: a tiny, well-mixed generator, so the stuck bits of a block are a pure function
// of (seed, block) and can be recomputed on every read instead of stored.
struct SplitMix {
  uint64_t s;
  uint64_t next() {
    uint64_t z = (s += 0x9e3779b97f4a7c15);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9;
    z = (z ^ (z >> 27)) * 0x94d049bb133111eb;
    return z ^ (z >> 31);
  }
  double unit() { return double((next() >> 11) + 1) * 0x1.0p-53; }  // (0, 1]
};

// Bits to skip before the next affected bit when each bit is affected with probability p
// (a geometric distribution), so the cost is per corrupted bit, not per bit read.
uint64_t skip(double p, double u) {
  if (p >= 1) return 0;
  double g = std::floor(std::log(u) / std::log1p(-p));
  return g >= 0x1.0p62 ? uint64_t(1) << 62 : uint64_t(g);
}

void set_bit(std::byte* buf, uint64_t bit, bool high) {
  auto mask = std::byte(1u << (bit & 7));
  buf[bit >> 3] = high ? (buf[bit >> 3] | mask) : (buf[bit >> 3] & ~mask);
}

constexpr uint64_t kBlockBits = uint64_t(64) * 1024 * 8;  // stuck bits are laid out per 64 KiB

struct EvilConfig {
  Mode mode = Mode::StuckBits;
  double probability = -1;  // < 0: the mode's default
  double stuck_probability = 1;
  uint64_t seed = 0;
};

class Evil {
 public:
  explicit Evil(const EvilConfig& c) : c_(c), cosmic_{c.seed} {}

  // Corrupts buf, which holds the bytes read at offset.
  void corrupt(std::span<std::byte> buf, uint64_t offset) {
    if (c_.probability <= 0 || buf.empty()) return;
    if (c_.mode == Mode::CosmicRays) return flip(buf);
    // Stuck wires sit on the data path, so their positions count from the buffer's start.
    uint64_t base = c_.mode == Mode::StuckBits ? offset * 8 : 0;
    uint64_t first = base, last = base + buf.size() * 8;  // bits [first, last) of the address space
    for (uint64_t block = first / kBlockBits; block * kBlockBits < last; ++block)
      stick(buf.data(), block, first, last);
  }

 private:
  void flip(std::span<std::byte> buf) {
    uint64_t bits = buf.size() * 8;
    std::lock_guard l(mu_);  // one sequence for the whole server: the same seed, the same flips
    for (uint64_t bit = skip(c_.probability, cosmic_.unit()); bit < bits;
         bit += 1 + skip(c_.probability, cosmic_.unit()))
      buf[bit >> 3] ^= std::byte(1u << (bit & 7));
  }

  // Applies the stuck bits of one block that fall in [first, last).
  void stick(std::byte* buf, uint64_t block, uint64_t first, uint64_t last) {
    SplitMix rng{c_.seed ^ (block * 0xd1342543de82ef95 + 0x2545f4914f6cdd1d)};
    rng.next();
    uint64_t start = block * kBlockBits, end = start + kBlockBits;
    for (uint64_t bit = start + skip(c_.probability, rng.unit()); bit < end && bit < last;
         bit += 1 + skip(c_.probability, rng.unit())) {
      uint64_t r = rng.next();
      if (bit < first) continue;
      bool high = r & 1;
      if (c_.stuck_probability < 1 && !read_as_stuck()) continue;
      set_bit(buf, bit - first, high);
    }
  }

  // Whether a stuck bit reads as stuck this time (evil-stuck-probability): random per read.
  bool read_as_stuck() {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    return std::uniform_real_distribution<double>(0, 1)(rng) < c_.stuck_probability;
  }

  const EvilConfig& c_;
  std::mutex mu_;
  SplitMix cosmic_;  // guarded by mu_
};

class EvilConnection final : public FilterConnection {
 public:
  EvilConnection(std::unique_ptr<Connection> next, Evil& evil)
      : FilterConnection(std::move(next)), evil_(evil) {}
  Status pread(std::span<std::byte> buf, uint64_t offset, uint32_t flags) override {
    NBD_TRY(next().pread(buf, offset, flags));
    evil_.corrupt(buf, offset);
    return ok();
  }

 private:
  Evil& evil_;
};

class EvilFilter final : public Filter {
 public:
  Result<bool> config(std::string_view key, std::string_view value) override {
    if (key == "evil") {
      if (value == "cosmic-rays" || value == "cosmic")
        c_.mode = Mode::CosmicRays;
      else if (value == "stuck-bits" || value == "stuck-bit" || value == "stuck")
        c_.mode = Mode::StuckBits;
      else if (value == "stuck-wires" || value == "stuck-wire")
        c_.mode = Mode::StuckWires;
      else
        return make_error(EINVAL, "evil=" + std::string(value) +
                                      ": unknown mode (use cosmic-rays, stuck-bits or stuck-wires)");
    } else if (key == "evil-probability") {
      NBD_TRY_ASSIGN(c_.probability, parse_probability(key, value));
    } else if (key == "evil-stuck-probability") {
      NBD_TRY_ASSIGN(c_.stuck_probability, parse_probability(key, value));
    } else if (key == "evil-seed") {
      NBD_TRY_ASSIGN(c_.seed, parse_uint64(key, value));
      seeded_ = true;
    } else {
      return false;
    }
    return true;
  }
  Status config_complete() override {
    if (c_.probability < 0) c_.probability = c_.mode == Mode::StuckWires ? 1e-6 : 1e-8;
    if (!seeded_) c_.seed = std::random_device{}() | uint64_t(std::random_device{}()) << 32;
    evil_ = std::make_unique<Evil>(c_);
    return ok();
  }
  Result<std::unique_ptr<Connection>> open(const OpenParams& params, const NextOpen& next) override {
    NBD_TRY_ASSIGN(auto below, next(params));
    return std::unique_ptr<Connection>(std::make_unique<EvilConnection>(std::move(below), *evil_));
  }

 private:
  EvilConfig c_;
  bool seeded_ = false;
  std::unique_ptr<Evil> evil_;
};

constexpr ParamHelp kParams[] = {
    {"evil", "evil=cosmic-rays|stuck-bits|stuck-wires  Kind of corruption (default: stuck-bits)."},
    {"evil-probability", "evil-probability=PROB  Probability of a flipped or stuck bit or wire."},
    {"evil-stuck-probability",
     "evil-stuck-probability=PROB  Probability a stuck bit reads as stuck (default: 1)."},
    {"evil-seed", "evil-seed=SEED  Random seed, for repeatable corruption."},
};

}  // namespace

extern const FilterInfo evil_filter_info;
const FilterInfo evil_filter_info{
    .name = "evil",
    .description = "nbdkit evil filter: add random data corruption to reads",
    .params = kParams,
    .factory = [] { return std::unique_ptr<Filter>(std::make_unique<EvilFilter>()); },
};

}  // namespace nbd::filters
