// SPDX-License-Identifier: BSD-3-Clause
// Base64 decoding and URI percent-encoding (encoding.h).
#include "common/encoding.h"

#include <cctype>

namespace nbd {
namespace {

int symbol_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

}  // namespace

Result<std::vector<std::byte>> decode_base64(std::string_view text, Base64Padding padding) {
  const bool strict = padding == Base64Padding::Required;
  std::vector<std::byte> out;
  out.reserve(text.size() / 4 * 3 + 3);
  uint32_t acc = 0;
  int bits = 0;
  size_t symbols = 0, pads = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    bool skip = strict ? (c == '\n' || c == '\r') : std::isspace(static_cast<unsigned char>(c)) != 0;
    if (skip) continue;
    if (c == '=') {
      ++pads;
      continue;
    }
    int v = symbol_value(c);
    if (v < 0 || pads > 0) {
      return make_error(EINVAL, "base64: offset " + std::to_string(i) + ": invalid character '" +
                                    std::string(1, c) + "'" + (pads ? " after '=' padding" : ""));
    }
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    ++symbols;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<std::byte>((acc >> bits) & 0xff));
    }
  }
  if (symbols % 4 == 1) return make_error(EINVAL, "base64: the input ends in the middle of a byte");
  if (strict && pads != (4 - symbols % 4) % 4)
    return make_error(EINVAL, "base64: the input is not padded to a multiple of 4 characters");
  return out;
}

std::string percent_encode(std::string_view s, std::string_view safe) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || safe.find(char(c)) != std::string_view::npos) {
      out += char(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace nbd
