// SPDX-License-Identifier: BSD-3-Clause
// Short names, long file name entries and timestamps of FAT directories (see fat_names.h),
// following Microsoft's FAT32 File System Specification (1.03), sections 6 and 7.
#include "disk/fat_names.h"

#include <algorithm>
#include <cstring>

namespace nbd::fat {
namespace {

bool valid_short_char(char c) {
  if ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::strchr("!#$%&'()-@^_`{}~", c) != nullptr && c != '\0';
}

char to_short_char(char c) {
  if (c >= 'a' && c <= 'z') return static_cast<char>(c - 'a' + 'A');
  return valid_short_char(c) ? c : '_';
}

void put_le(std::byte* p, uint32_t v, int n) {
  for (int i = 0; i < n; i++) p[i] = std::byte((v >> (8 * i)) & 0xff);
}

}  // namespace

bool exact_short_name(std::string_view name, ShortName& out) {
  size_t dot = name.find('.');
  std::string_view base = name.substr(0, dot);
  std::string_view ext = dot == std::string_view::npos ? std::string_view() : name.substr(dot + 1);
  if (base.empty() || base.size() > 8 || ext.size() > 3 || ext.find('.') != std::string_view::npos)
    return false;
  if (dot != std::string_view::npos && ext.empty()) return false;
  for (char c : name.substr(0, dot))
    if (!valid_short_char(c)) return false;
  for (char c : ext)
    if (!valid_short_char(c)) return false;
  out.fill(' ');
  std::copy(base.begin(), base.end(), out.begin());
  std::copy(ext.begin(), ext.end(), out.begin() + 8);
  return true;
}

ShortName generate_short_name(std::string_view name, const std::set<ShortName>& used) {
  while (!name.empty() && (name[0] == '.' || name[0] == ' ')) name.remove_prefix(1);
  size_t dot = name.rfind('.');
  std::string basis, ext;
  for (char c : name.substr(0, dot))
    if (c != ' ' && c != '.') basis += to_short_char(c);
  if (dot != std::string_view::npos)
    for (char c : name.substr(dot + 1))
      if (c != ' ' && c != '.' && ext.size() < 3) ext += to_short_char(c);
  if (basis.empty()) basis = "_";
  ShortName s;
  for (unsigned n = 1;; n++) {
    std::string tail = "~" + std::to_string(n);
    std::string base = basis.substr(0, 8 - tail.size()) + tail;
    s.fill(' ');
    std::copy(base.begin(), base.end(), s.begin());
    std::copy(ext.begin(), ext.end(), s.begin() + 8);
    if (!used.count(s)) return s;
  }
}

uint8_t lfn_checksum(const ShortName& s) {
  uint8_t sum = 0;
  for (char c : s) sum = static_cast<uint8_t>(((sum & 1) << 7) + (sum >> 1) + static_cast<uint8_t>(c));
  return sum;
}

std::u16string utf8_to_utf16(std::string_view s) {
  std::u16string out;
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (len == 0 || i + len > s.size()) {
      out += u'_';
      i++;
      continue;
    }
    uint32_t cp = len == 1 ? c : c & (0x7f >> len);
    for (size_t k = 1; k < len; k++) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3f);
    i += len;
    if (cp >= 0x10000) {
      cp -= 0x10000;
      out += static_cast<char16_t>(0xd800 + (cp >> 10));
      out += static_cast<char16_t>(0xdc00 + (cp & 0x3ff));
    } else {
      out += static_cast<char16_t>(cp);
    }
  }
  return out;
}

Result<std::vector<std::array<std::byte, 32>>> lfn_entries(std::string_view name, const ShortName& s) {
  std::u16string u = utf8_to_utf16(name);
  if (u.size() > 255)
    return make_error(ENAMETOOLONG, std::string(name) + ": name is too long for FAT (255 characters)");
  size_t n = (u.size() + 12) / 13;
  std::vector<std::array<std::byte, 32>> out(n);
  static constexpr int kSlots[13] = {1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30};
  uint8_t sum = lfn_checksum(s);
  for (size_t k = 0; k < n; k++) {
    auto& e = out[n - 1 - k];  // the last part of the name comes first on disk
    e.fill(std::byte{0});
    e[0] = std::byte(static_cast<uint8_t>((k + 1) | (k == n - 1 ? 0x40 : 0)));
    e[11] = std::byte{0x0f};
    e[13] = std::byte{sum};
    for (int j = 0; j < 13; j++) {
      size_t idx = 13 * k + j;
      uint32_t ch = idx < u.size() ? u[idx] : idx == u.size() ? 0 : 0xffff;
      put_le(&e[kSlots[j]], ch, 2);
    }
  }
  return out;
}

std::array<std::byte, 32> encode_entry(const DirEntry& d) {
  std::array<std::byte, 32> e{};
  std::memcpy(e.data(), d.name.data(), 11);
  e[11] = std::byte{d.attributes};
  struct tm tm;
  localtime_r(&d.mtime, &tm);
  if (tm.tm_year < 80) tm = {0, 0, 0, 1, 0, 80, 0, 0, 0, 0, nullptr};  // FAT dates start in 1980
  if (tm.tm_year > 207) tm = {58, 59, 23, 31, 11, 207, 0, 0, 0, 0, nullptr};
  uint32_t time = static_cast<uint32_t>(tm.tm_hour << 11 | tm.tm_min << 5 | tm.tm_sec / 2);
  uint32_t date = static_cast<uint32_t>((tm.tm_year - 80) << 9 | (tm.tm_mon + 1) << 5 | tm.tm_mday);
  put_le(&e[14], time, 2);  // creation
  put_le(&e[16], date, 2);
  put_le(&e[18], date, 2);  // last access
  put_le(&e[20], d.first_cluster >> 16, 2);
  put_le(&e[22], time, 2);  // last write
  put_le(&e[24], date, 2);
  put_le(&e[26], d.first_cluster & 0xffff, 2);
  put_le(&e[28], d.size, 4);
  return e;
}

}  // namespace nbd::fat
