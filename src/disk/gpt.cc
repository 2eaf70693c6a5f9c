// SPDX-License-Identifier: BSD-3-Clause
// GPT encoding (see gpt.h). Layout per the UEFI specification, chapter 5.
#include "disk/gpt.h"

#include <cstdio>
#include <cstring>

#include "disk/mbr.h"

namespace nbd::gpt {
namespace {

struct CrcTable {
  uint32_t t[256];
  CrcTable() {
    for (uint32_t i = 0; i < 256; i++) {
      uint32_t c = i;
      for (int k = 0; k < 8; k++) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
  }
};

void put_le(std::byte* p, uint64_t v, int n) {
  for (int i = 0; i < n; i++) p[i] = std::byte((v >> (8 * i)) & 0xff);
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Appends the UTF-16LE form of a UTF-8 string, at most max_units code units.
void put_utf16_name(std::byte* p, std::string_view s, size_t max_units) {
  size_t units = 0;
  for (size_t i = 0; i < s.size() && units < max_units;) {
    auto c = static_cast<unsigned char>(s[i]);
    uint32_t cp;
    size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
    cp = len == 1 ? c : c & (0x7f >> len);
    for (size_t k = 1; k < len && i + k < s.size(); k++)
      cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3f);
    i += len;
    if (cp > 0xffff) cp = '?';  // a surrogate pair could be split by the 36-unit limit
    put_le(p + 2 * units++, cp, 2);
  }
}

void encode_header(std::byte* h, uint64_t my_lba, uint64_t alt_lba, uint64_t first_usable,
                   uint64_t last_usable, const Guid& disk_guid, uint64_t entries_lba, uint32_t count,
                   uint32_t entries_crc) {
  std::memset(h, 0, 512);
  std::memcpy(h, "EFI PART", 8);
  put_le(h + 8, 0x00010000, 4);  // revision 1.0
  put_le(h + 12, 92, 4);         // header size
  put_le(h + 24, my_lba, 8);
  put_le(h + 32, alt_lba, 8);
  put_le(h + 40, first_usable, 8);
  put_le(h + 48, last_usable, 8);
  std::memcpy(h + 56, disk_guid.data(), 16);
  put_le(h + 72, entries_lba, 8);
  put_le(h + 80, count, 4);
  put_le(h + 84, 128, 4);  // entry size
  put_le(h + 88, entries_crc, 4);
  put_le(h + 16, crc32(h, 92), 4);
}

}  // namespace

uint32_t crc32(const void* data, size_t len, uint32_t crc) {
  static const CrcTable table;
  auto p = static_cast<const uint8_t*>(data);
  crc = ~crc;
  for (size_t i = 0; i < len; i++) crc = table.t[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
  return ~crc;
}

Result<Guid> parse_guid(std::string_view what, std::string_view text) {
  // Text order: 4-2-2-2-6 bytes; the first three groups are stored little-endian.
  static constexpr int kOrder[16] = {3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15};
  auto bad = [&] {
    return make_error(EINVAL, std::string(what) + "=" + std::string(text) +
                                  ": not a GUID (expected XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX)");
  };
  if (text.size() != 36) return bad();
  Guid g{};
  size_t pos = 0;
  for (int i = 0; i < 16; i++) {
    if (pos == 8 || pos == 13 || pos == 18 || pos == 23) {
      if (text[pos] != '-') return bad();
      pos++;
    }
    int hi = hex_value(text[pos]), lo = hex_value(text[pos + 1]);
    if (hi < 0 || lo < 0) return bad();
    g[kOrder[i]] = static_cast<uint8_t>(hi << 4 | lo);
    pos += 2;
  }
  return g;
}

std::string format_guid(const Guid& g) {
  static constexpr int kOrder[16] = {3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15};
  std::string s;
  char buf[3];
  for (int i = 0; i < 16; i++) {
    if (i == 4 || i == 6 || i == 8 || i == 10) s += '-';
    std::snprintf(buf, sizeof buf, "%02X", g[kOrder[i]]);
    s += buf;
  }
  return s;
}

Guid guid_from_string(std::string_view seed) {
  // splitmix64 over an FNV-1a hash of the seed: cheap, deterministic and well mixed.
  uint64_t h = 0xcbf29ce484222325ull;
  for (char c : seed) h = (h ^ static_cast<uint8_t>(c)) * 0x100000001b3ull;
  Guid g{};
  for (int i = 0; i < 16; i += 8) {
    h += 0x9e3779b97f4a7c15ull;
    uint64_t z = h;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    for (int k = 0; k < 8; k++) g[i + k] = static_cast<uint8_t>(z >> (8 * k));
  }
  g[7] = static_cast<uint8_t>((g[7] & 0x0f) | 0x40);  // version 4 (byte 7 is the high byte of field 3)
  g[8] = static_cast<uint8_t>((g[8] & 0x3f) | 0x80);  // RFC 4122 variant
  return g;
}

uint32_t entry_count(size_t partitions) {
  size_t n = partitions < 128 ? 128 : (partitions + 3) / 4 * 4;
  return static_cast<uint32_t>(n);
}

Tables build_tables(uint64_t disk_sectors, const std::vector<Partition>& parts, const Guid& disk_guid) {
  uint32_t count = entry_count(parts.size());
  uint64_t esec = entry_sectors(count);
  std::vector<std::byte> entries(esec * 512);
  for (size_t i = 0; i < parts.size(); i++) {
    std::byte* e = entries.data() + 128 * i;
    std::memcpy(e, parts[i].type.data(), 16);
    std::memcpy(e + 16, parts[i].unique.data(), 16);
    put_le(e + 32, parts[i].first_lba, 8);
    put_le(e + 40, parts[i].last_lba, 8);
    put_le(e + 48, parts[i].attributes, 8);
    put_utf16_name(e + 56, parts[i].name, 36);
  }
  uint32_t ecrc = crc32(entries.data(), entries.size());
  uint64_t last = disk_sectors - 1;
  uint64_t first_usable = primary_sectors(count), last_usable = disk_sectors - secondary_sectors(count) - 1;

  Tables t;
  t.primary.assign(primary_sectors(count) * 512, std::byte{0});
  uint64_t pmbr_size = disk_sectors - 1 > mbr::kMaxSectors ? mbr::kMaxSectors : disk_sectors - 1;
  mbr::Entry pmbr{0xee, false, 1, pmbr_size};
  mbr::encode_table(std::span(t.primary.data(), 512), std::span(&pmbr, 1));
  encode_header(t.primary.data() + 512, 1, last, first_usable, last_usable, disk_guid, 2, count, ecrc);
  std::memcpy(t.primary.data() + 1024, entries.data(), entries.size());

  t.secondary.assign(secondary_sectors(count) * 512, std::byte{0});
  std::memcpy(t.secondary.data(), entries.data(), entries.size());
  encode_header(t.secondary.data() + entries.size(), last, 1, first_usable, last_usable, disk_guid,
                last - esec, count, ecrc);
  return t;
}

}  // namespace nbd::gpt
