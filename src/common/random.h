// SPDX-License-Identifier: BSD-3-Clause
// Small, fast, non-cryptographic pseudo-random numbers shared by plugins and filters that need
// repeatable randomness from a seed (sparse-random, random, error rates). Header-only.
#pragma once

#include <cstdint>

namespace nbd {

// SplitMix64 step: a good 64-bit mixing function. mix64(x) is a stateless hash of x, handy
// to derive independent values from (seed, index) pairs without keeping any state.
constexpr uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Hash of two values, e.g. (seed, block number).
constexpr uint64_t mix64(uint64_t a, uint64_t b) { return mix64(a ^ mix64(b + 0x632be59bd9b4e019ULL)); }

// xoshiro256** generator, seeded through SplitMix64 so any 64-bit seed (even 0) gives a good
// state. Not thread-safe: one per thread or per stream.
class Xoshiro256 {
 public:
  explicit constexpr Xoshiro256(uint64_t seed) {
    for (auto& w : s_) {
      seed += 0x9e3779b97f4a7c15ULL;
      w = mix64(seed);
    }
  }

  // Seeded the way upstream nbdkit seeds its generator (xsrandom in its common/include/random.h):
  // state word i is the SplitMix64 output for seed + (i + 1) * G, one G (0x9e3779b97f4a7c15)
  // less than the constructor above. The random and sparse-random plugins use it so that a seed
  // gives the same bytes as upstream's plugins.
  static constexpr Xoshiro256 like_nbdkit(uint64_t seed) {
    Xoshiro256 r(0);
    for (auto& w : r.s_) {
      w = mix64(seed);
      seed += 0x9e3779b97f4a7c15ULL;
    }
    return r;
  }

  constexpr uint64_t next() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

  // Uniform in [0, n) for n > 0 (Lemire's multiply-shift; the tiny bias is irrelevant here).
  constexpr uint64_t below(uint64_t n) {
    return static_cast<uint64_t>((static_cast<unsigned __int128>(next()) * n) >> 64);
  }

 private:
  static constexpr uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4]{};
};

}  // namespace nbd
