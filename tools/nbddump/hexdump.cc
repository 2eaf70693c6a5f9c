// SPDX-License-Identifier: BSD-3-Clause
// The hexdump formatter behind nbddump (see hexdump.h).
#include "hexdump.h"

#include <algorithm>
#include <cctype>
#include <cinttypes>
#include <cstdio>
#include <cstring>

namespace nbd::dump {
namespace {

constexpr std::string_view kOffsetColor = "\x1b[22;32m";
constexpr std::string_view kDimColor = "\x1b[22;90m";
constexpr std::string_view kHexColor = "\x1b[1;34m";
constexpr std::string_view kAlnumColor = "\x1b[1;31m";
constexpr std::string_view kPunctColor = "\x1b[1;35m";
constexpr std::string_view kReset = "\x1b[0m";
constexpr std::string_view kBar = "\xe2\x94\x82";       // │
constexpr std::string_view kDot = "\xc2\xb7";           // ·
constexpr std::string_view kSquashed = "\xe2\x98\x86";  // ☆

}  // namespace

void HexDumper::feed(std::span<const std::byte> data) {
  while (!data.empty()) {
    if (partial_len_ == 0 && data.size() >= 16) {
      emit_line(data.data(), 16);
      data = data.subspan(16);
      continue;
    }
    size_t n = std::min(data.size(), 16 - partial_len_);
    std::memcpy(partial_ + partial_len_, data.data(), n);
    partial_len_ += n;
    data = data.subspan(n);
    flush_partial_if_full();
  }
}

void HexDumper::feed_zeroes(uint64_t count) {
  static const std::byte kZeroLine[16] = {};
  while (count > 0 && partial_len_ != 0) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(count, 16 - partial_len_));
    std::memset(partial_ + partial_len_, 0, n);
    partial_len_ += n;
    count -= n;
    flush_partial_if_full();
  }
  uint64_t lines = count / 16;
  // Lines 3..k-1 of a zero run repeat line 2 and are squashed, so only the first two and the
  // last (which may be the disk's last line) can print anything.
  for (uint64_t i = 0; i < lines; ++i) {
    if (i == 2 && lines > 3) {
      offset_ += (lines - 3) * 16;
      i = lines - 1;
    }
    emit_line(kZeroLine, 16);
  }
  count %= 16;
  std::memset(partial_, 0, static_cast<size_t>(count));
  partial_len_ = static_cast<size_t>(count);
}

void HexDumper::finish() {
  if (partial_len_ > 0) emit_line(partial_, partial_len_);
  partial_len_ = 0;
}

void HexDumper::flush_partial_if_full() {
  if (partial_len_ == 16) {
    emit_line(partial_, 16);
    partial_len_ = 0;
  }
}

// A short line compares as if padded with zeroes, like upstream.
void HexDumper::emit_line(const std::byte* line, size_t n) {
  std::byte full[16] = {};
  std::memcpy(full, line, n);
  const bool last = offset_ + 16 >= disk_size_;
  if (have_prev_ && !last && std::memcmp(full, prev_, 16) == 0) {
    if (!squashing_) {
      squashing_ = true;
      out_(color_ ? std::string(kSquashed) + "\n" : std::string("*\n"));
    }
  } else {
    print_line(full, n);
    std::memcpy(prev_, full, 16);
    have_prev_ = true;
    squashing_ = false;
  }
  offset_ += 16;
}

void HexDumper::print_line(const std::byte* line, size_t n) {
  char num[24];
  text_.clear();
  std::snprintf(num, sizeof num, "%010" PRIx64, offset_);
  if (color_) text_ += kOffsetColor;
  text_ += num;
  if (color_) text_ += kDimColor;
  text_ += ": ";
  for (size_t i = 0; i < n; ++i) {
    auto b = static_cast<unsigned char>(line[i]);
    if (color_) text_ += b == 0 ? kDimColor : kHexColor;
    std::snprintf(num, sizeof num, "%02x ", b);
    text_ += num;
    if (i == 7) text_ += ' ';
  }
  if (color_) text_ += kDimColor;
  for (size_t i = n; i < 16; ++i) text_ += i == 7 ? "    " : "   ";
  text_ += color_ ? kBar : "|";
  for (size_t i = 0; i < n; ++i) {
    auto b = static_cast<unsigned char>(line[i]);
    bool printable = b < 0x80 && std::isprint(b);
    if (!color_) {
      text_ += printable ? static_cast<char>(b) : '.';
      continue;
    }
    text_ += !printable ? kDimColor : std::isalnum(b) ? kAlnumColor : kPunctColor;
    if (printable)
      text_ += static_cast<char>(b);
    else
      text_ += kDot;
  }
  if (color_) text_ += kDimColor;
  text_.append(16 - n, ' ');
  text_ += color_ ? kBar : "|";
  text_ += '\n';
  if (color_) text_ += kReset;
  out_(text_);
}

}  // namespace nbd::dump
