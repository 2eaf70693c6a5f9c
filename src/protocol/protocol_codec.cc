// SPDX-License-Identifier: BSD-3-Clause
// The big-endian Writer and Reader every NBD message is built from (include/nbd/protocol.h).
// Pure functions only; the messages are in protocol_handshake.cc and protocol_transmission.cc.
#include <cerrno>

#include "nbd/protocol.h"
#include "protocol/codec.h"

namespace nbd::protocol {

Writer& Writer::u16(uint16_t v) {
  size_t n = out_.size();
  out_.resize(n + 2);
  put_u16(out_.data() + n, v);
  return *this;
}
Writer& Writer::u32(uint32_t v) {
  size_t n = out_.size();
  out_.resize(n + 4);
  put_u32(out_.data() + n, v);
  return *this;
}
Writer& Writer::u64(uint64_t v) {
  size_t n = out_.size();
  out_.resize(n + 8);
  put_u64(out_.data() + n, v);
  return *this;
}
Writer& Writer::bytes(std::span<const std::byte> b) {
  out_.insert(out_.end(), b.begin(), b.end());
  return *this;
}
Writer& Writer::str(std::string_view s) {
  auto p = reinterpret_cast<const std::byte*>(s.data());
  out_.insert(out_.end(), p, p + s.size());
  return *this;
}
Writer& Writer::str32(std::string_view s) { return u32(uint32_t(s.size())).str(s); }
Writer& Writer::zeroes(size_t n) {
  out_.resize(out_.size() + n, std::byte{0});
  return *this;
}

Result<uint16_t> Reader::u16(const char* what) {
  if (remaining() < 2) return short_buffer(what);
  uint16_t v = get_u16(in_.data() + pos_);
  pos_ += 2;
  return v;
}
Result<uint32_t> Reader::u32(const char* what) {
  if (remaining() < 4) return short_buffer(what);
  uint32_t v = get_u32(in_.data() + pos_);
  pos_ += 4;
  return v;
}
Result<uint64_t> Reader::u64(const char* what) {
  if (remaining() < 8) return short_buffer(what);
  uint64_t v = get_u64(in_.data() + pos_);
  pos_ += 8;
  return v;
}
Result<std::string> Reader::str(size_t n, const char* what) {
  if (remaining() < n) return short_buffer(what);
  std::string s(reinterpret_cast<const char*>(in_.data() + pos_), n);
  pos_ += n;
  return s;
}
Result<std::string> Reader::str32(const char* what) {
  NBD_TRY_ASSIGN(uint32_t n, u32(what));
  if (n > kMaxStringLength) return make_error(EINVAL, std::string(what) + " is too long");
  return str(n, what);
}

}  // namespace nbd::protocol
