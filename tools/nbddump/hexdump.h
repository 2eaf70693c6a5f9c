// SPDX-License-Identifier: BSD-3-Clause
// nbddump's output format, byte for byte like libnbd's nbddump: 16 bytes a line ("OFFSET: hex
// |ascii|"), repeated lines squashed into one "*" line, the disk's last line always shown,
// and an ANSI-coloured variant with "│", "·" and "☆".
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>

namespace nbd::dump {

class HexDumper {
 public:
  // disk_size: the export's size (the line holding its last byte is always printed, even
  // when it repeats). out receives text as it is produced.
  // start: disk offset of the first byte fed (lines are 16 bytes from there on).
  HexDumper(uint64_t disk_size, bool color, std::function<void(std::string_view)> out, uint64_t start = 0)
      : disk_size_(disk_size), color_(color), out_(std::move(out)), offset_(start) {}

  // Bytes that follow the previous ones (the first call is at `start`).
  void feed(std::span<const std::byte> data);
  // count zero bytes, without materialising them (squashed runs cost nothing).
  void feed_zeroes(uint64_t count);
  // Prints the final partial line, if any.
  void finish();

 private:
  void emit_line(const std::byte* line, size_t n);
  void print_line(const std::byte* line, size_t n);
  void flush_partial_if_full();

  uint64_t disk_size_;
  bool color_;
  std::function<void(std::string_view)> out_;
  uint64_t offset_;  // disk offset of the line being collected
  std::byte partial_[16] = {};
  size_t partial_len_ = 0;
  std::byte prev_[16] = {};
  bool have_prev_ = false;
  bool squashing_ = false;
  std::string text_;
};

}  // namespace nbd::dump
