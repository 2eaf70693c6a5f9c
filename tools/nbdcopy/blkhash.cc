// SPDX-License-Identifier: BSD-3-Clause
// The blkhash of the copied image (see blkhash.h).
#include "blkhash.h"

#include <dlfcn.h>

#include <algorithm>
#include <cstring>

#include "nbd/parse.h"

namespace nbd::copy {
namespace {

// gnutls_digest_algorithm_t values (gnutls/gnutls.h), with their digest lengths.
struct Digest {
  const char* name;
  int algorithm;
  size_t length;
};
constexpr Digest kDigests[] = {{"md5", 2, 16}, {"sha1", 3, 20}, {"sha256", 6, 32}, {"sha512", 8, 64}};

const Digest* find_digest(std::string_view name) {
  for (const Digest& d : kDigests)
    if (name == d.name) return &d;
  return nullptr;
}

}  // namespace

Result<BlkhashSpec> parse_blkhash(std::string_view arg) {
  BlkhashSpec s;
  if (arg.empty()) return s;
  std::string_view name = arg.substr(0, arg.find('/'));
  if (!find_digest(name))
    return make_error(EINVAL, "--blkhash=" + std::string(arg) + ": unknown digest '" + std::string(name) +
                                  "' (use md5, sha1, sha256 or sha512)");
  s.digest = std::string(name);
  if (name.size() < arg.size()) {
    std::string size(arg.substr(name.size() + 1));
    NBD_TRY_ASSIGN(s.block_size, parse_size("--blkhash", size.c_str()));
    if (s.block_size == 0 || (s.block_size & (s.block_size - 1)) != 0 || s.block_size > (uint64_t{1} << 30))
      return make_error(EINVAL,
                        "--blkhash=" + std::string(arg) + ": the block size must be a power of 2 up to 1G");
  }
  return s;
}

Result<std::unique_ptr<Blkhash>> Blkhash::create(const BlkhashSpec& spec, std::optional<uint64_t> size) {
  const Digest* d = find_digest(spec.digest);
  if (!d) return make_error(EINVAL, "--blkhash: unknown digest '" + spec.digest + "'");
  void* lib = dlopen("libgnutls.so.30", RTLD_NOW | RTLD_LOCAL);
  if (!lib) return make_error(ENOTSUP, std::string("--blkhash needs gnutls: ") + dlerror());
  auto fn = reinterpret_cast<HashFn>(dlsym(lib, "gnutls_hash_fast"));
  if (!fn) return make_error(ENOTSUP, "--blkhash needs gnutls: no gnutls_hash_fast");
  std::unique_ptr<Blkhash> b(new Blkhash(spec, fn, d->algorithm, d->length));
  if (size && *size > 0) {
    std::lock_guard lock(b->mu_);
    (void)b->slot_locked((*size - 1) / spec.block_size);
  }
  return b;
}

Blkhash::Blkhash(const BlkhashSpec& spec, HashFn fn, int algorithm, size_t digest_len)
    : spec_(spec), fn_(fn), algorithm_(algorithm), dlen_(digest_len) {}

void Blkhash::hash(const std::byte* p, size_t n, uint8_t* out) const {
  static const std::byte empty{};
  (void)fn_(algorithm_, n ? static_cast<const void*>(p) : &empty, n, out);
}

uint8_t* Blkhash::slot_locked(uint64_t i) {
  uint64_t chunk = i / kChunkBlocks;
  while (chunks_.size() <= chunk) {
    chunks_.emplace_back(new uint8_t[kChunkBlocks * dlen_]);
    states_.emplace_back(new State[kChunkBlocks]());
  }
  return chunks_[chunk].get() + (i % kChunkBlocks) * dlen_;
}

void Blkhash::set_block(uint64_t i, const std::byte* buf) {
  uint8_t* slot;
  State* state;
  {
    std::lock_guard lock(mu_);
    slot = slot_locked(i);
    state = &states_[i / kChunkBlocks][i % kChunkBlocks];
  }
  // Each whole block is fed once, so its slot is ours alone: hash outside the lock.
  if (buf) hash(buf, spec_.block_size, slot);
  *state = buf ? State::Data : State::Zero;
}

void Blkhash::add_partial(uint64_t i, uint64_t in_block, uint64_t len, const std::byte* buf) {
  std::lock_guard lock(mu_);
  Partial& p = partial_[i];
  if (p.bytes.empty()) p.bytes.resize(spec_.block_size);
  if (buf) std::memcpy(p.bytes.data() + in_block, buf, len);
  p.seen += len;
  if (p.seen < spec_.block_size) return;
  uint8_t* slot = slot_locked(i);
  hash(p.bytes.data(), spec_.block_size, slot);
  states_[i / kChunkBlocks][i % kChunkBlocks] = State::Data;
  partial_.erase(i);
}

void Blkhash::update(const std::byte* buf, uint64_t offset, uint64_t len) {
  if (len == 0) return;
  {
    std::lock_guard lock(mu_);
    end_ = std::max(end_, offset + len);
  }
  const uint64_t bs = spec_.block_size;
  while (len > 0) {
    uint64_t i = offset / bs, in_block = offset % bs;
    uint64_t n = std::min(len, bs - in_block);
    if (n == bs)
      set_block(i, buf);
    else
      add_partial(i, in_block, n, buf);
    if (buf) buf += n;
    offset += n;
    len -= n;
  }
}

uint64_t Blkhash::end() const {
  std::lock_guard lock(mu_);
  return end_;
}

Result<std::string> Blkhash::finish(uint64_t size) {
  std::lock_guard lock(mu_);
  const uint64_t bs = spec_.block_size;
  const uint64_t blocks = (size + bs - 1) / bs;
  std::vector<uint8_t> zero_digest(dlen_);
  {
    std::vector<std::byte> zeroes(bs);
    hash(zeroes.data(), bs, zero_digest.data());
  }
  std::vector<uint8_t> all;
  all.reserve(blocks * dlen_ + 8);
  for (uint64_t i = 0; i < blocks; ++i) {
    uint64_t len = std::min(bs, size - i * bs);
    uint8_t* slot = slot_locked(i);
    State& st = states_[i / kChunkBlocks][i % kChunkBlocks];
    if (len < bs) {  // the short last block, fed as a partial one
      auto it = partial_.find(i);
      if (it == partial_.end() || it->second.seen != len)
        return make_error(EIO, "blkhash: the last block was not fully copied");
      hash(it->second.bytes.data(), len, slot);
      st = State::Data;
    }
    if (st == State::Unknown)
      return make_error(EIO, "blkhash: block " + std::to_string(i) + " was never copied");
    const uint8_t* d = st == State::Zero ? zero_digest.data() : slot;
    all.insert(all.end(), d, d + dlen_);
  }
  for (int k = 0; k < 8; ++k) all.push_back(uint8_t(size >> (8 * k)));
  std::vector<uint8_t> out(dlen_);
  hash(reinterpret_cast<const std::byte*>(all.data()), all.size(), out.data());
  static const char kHex[] = "0123456789abcdef";
  std::string hex;
  for (uint8_t c : out) {
    hex += kHex[c >> 4];
    hex += kHex[c & 15];
  }
  return hex;
}

}  // namespace nbd::copy
