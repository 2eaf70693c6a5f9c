// SPDX-License-Identifier: BSD-3-Clause
// --blkhash: the blkhash construction (https://gitlab.com/nirs/blkhash) as libnbd's nbdcopy
// computes it. The image is cut into blocks of SIZE bytes (the last one may be shorter), each
// block is hashed, and the result is the hash of every block's digest in order followed by the
// image size as a little-endian 64-bit number. Blocks known to be zero (holes, zero runs) use
// one precomputed digest instead of being hashed. Digests come from gnutls, loaded with dlopen
// only when --blkhash is used.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nbd/result.h"

namespace nbd::copy {

struct BlkhashSpec {
  std::string digest = "sha256";  // md5, sha1, sha256 or sha512
  uint64_t block_size = 64 * 1024;
};

// Parses --blkhash's value: "" (sha256/64k), "DIGEST" or "DIGEST/SIZE" (SIZE a power of 2).
Result<BlkhashSpec> parse_blkhash(std::string_view arg);

class Blkhash {
 public:
  // Fails if gnutls cannot be loaded. size: the image size when known (reserves the table).
  static Result<std::unique_ptr<Blkhash>> create(const BlkhashSpec& spec, std::optional<uint64_t> size);

  // Feeds [offset, offset+len): data from buf, or zeroes when buf is null. Every byte of the
  // image must be fed exactly once, in any order, from any thread.
  void update(const std::byte* buf, uint64_t offset, uint64_t len);
  // The end of the highest range fed so far (the size of a streamed image).
  uint64_t end() const;
  // The blkhash of an image of `size` bytes, as lowercase hex.
  Result<std::string> finish(uint64_t size);

 private:
  enum class State : uint8_t { Unknown, Zero, Data };
  struct Partial {
    std::vector<std::byte> bytes;
    uint64_t seen = 0;
  };
  using HashFn = int (*)(int, const void*, size_t, void*);

  Blkhash(const BlkhashSpec& spec, HashFn fn, int algorithm, size_t digest_len);
  void hash(const std::byte* p, size_t n, uint8_t* out) const;
  // Grows the table to hold block i; returns its digest slot. Callers hold mu_.
  uint8_t* slot_locked(uint64_t i);
  void set_block(uint64_t i, const std::byte* buf);  // a whole block: data or (null) zero
  void add_partial(uint64_t i, uint64_t in_block, uint64_t len, const std::byte* buf);

  BlkhashSpec spec_;
  HashFn fn_;
  int algorithm_;
  size_t dlen_;
  mutable std::mutex mu_;
  // Digests live in chunks that never move, so threads fill their slots without the lock.
  static constexpr uint64_t kChunkBlocks = 1 << 16;
  std::vector<std::unique_ptr<uint8_t[]>> chunks_;
  std::vector<std::unique_ptr<State[]>> states_;
  std::map<uint64_t, Partial> partial_;
  uint64_t end_ = 0;
};

}  // namespace nbd::copy
