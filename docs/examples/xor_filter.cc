// SPDX-License-Identifier: BSD-3-Clause
// An out-of-tree nbdkit++ filter, built as a shared object against include/nbd/ only:
//   g++ -std=c++20 -shared -fPIC -I include docs/examples/xor_filter.cc -o xor.so
//   nbdkit -U - --filter=./xor.so memory 1M xor-key=0x55
// Every byte read or written is XORed with xor-key (a toy "encryption"); the rest forwards.
#include <cerrno>
#include <vector>

#include "nbd/filter.h"
#include "nbd/parse.h"

namespace {

class XorConnection final : public nbd::FilterConnection {
 public:
  XorConnection(std::unique_ptr<nbd::Connection> next, std::byte key)
      : FilterConnection(std::move(next)), key_(key) {}

  nbd::Status pread(std::span<std::byte> buf, uint64_t offset, uint32_t flags) override {
    NBD_TRY(next().pread(buf, offset, flags));
    for (auto& b : buf) b ^= key_;
    return nbd::ok();
  }
  nbd::Status pwrite(std::span<const std::byte> buf, uint64_t offset, uint32_t flags) override {
    std::vector<std::byte> x(buf.begin(), buf.end());
    for (auto& b : x) b ^= key_;
    return next().pwrite(x, offset, flags);
  }
  // Zeroed or trimmed ranges would read back as key bytes; say so instead of lying.
  nbd::Result<nbd::ZeroMode> can_zero() override { return nbd::ZeroMode::Emulate; }
  nbd::Result<bool> can_trim() override { return false; }
  nbd::Result<bool> can_extents() override { return false; }

 private:
  std::byte key_;
};

class XorFilter final : public nbd::Filter {
 public:
  nbd::Result<bool> config(std::string_view key, std::string_view value) override {
    if (key != "xor-key") return false;
    NBD_TRY_ASSIGN(uint32_t k, nbd::parse_uint32(key, value));
    if (k > 255) return nbd::make_error(EINVAL, "xor-key=" + std::string(value) + ": must be 0..255");
    key_ = std::byte(k);
    return true;
  }
  nbd::Result<std::unique_ptr<nbd::Connection>> open(const nbd::OpenParams& p,
                                                     const nbd::NextOpen& next) override {
    NBD_TRY_ASSIGN(auto below, next(p));
    return std::unique_ptr<nbd::Connection>(std::make_unique<XorConnection>(std::move(below), key_));
  }

 private:
  std::byte key_{0x55};
};

constexpr nbd::ParamHelp kParams[] = {{"xor-key", "xor-key=N  Byte to XOR data with (default 0x55)."}};

const nbd::FilterInfo kInfo{
    .name = "xor",
    .description = "example out-of-tree filter: XORs every byte with a key",
    .params = kParams,
    .factory = [] { return std::unique_ptr<nbd::Filter>(std::make_unique<XorFilter>()); },
};

}  // namespace

NBD_EXPORT_FILTER(kInfo)
