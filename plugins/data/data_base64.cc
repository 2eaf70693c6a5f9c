// SPDX-License-Identifier: BSD-3-Clause
// Base64 decoder: four 6-bit symbols make three bytes.
#include "data_base64.h"

#include <cctype>
#include <string>

namespace nbd::data {
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

Result<Bytes> decode_base64(std::string_view text) {
  Bytes out;
  out.reserve(text.size() / 4 * 3 + 3);
  uint32_t acc = 0;
  int bits = 0;
  size_t symbols = 0;
  bool padding = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (std::isspace(static_cast<unsigned char>(c))) continue;
    if (c == '=') {
      padding = true;
      continue;
    }
    int v = symbol_value(c);
    if (v < 0 || padding) {
      return make_error(EINVAL, "base64: offset " + std::to_string(i) + ": invalid character '" +
                                    std::string(1, c) + "'" + (padding ? " after '=' padding" : ""));
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
  return out;
}

}  // namespace nbd::data
