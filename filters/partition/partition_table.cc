// SPDX-License-Identifier: BSD-3-Clause
// MBR and GPT reading (see partition_table.h). Layouts: the MBR/EBR entry at 446 + 16*i
// (type at 4, LBA start at 8, sector count at 12) and UEFI chapter 5 for GPT.
#include "partition_table.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <set>
#include <vector>

#include "disk/gpt.h"
#include "nbd/log.h"

namespace nbd::partition {
namespace {

constexpr uint64_t kMaxGptEntryBytes = 4 << 20;  // 32768 entries of 128 bytes; real disks use 16K
constexpr int kMaxEbrs = 4096;                   // more logical partitions than any tool makes

uint64_t get_le(const std::byte* p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; i--) v = v << 8 | static_cast<uint8_t>(p[i]);
  return v;
}

Error bad(std::string message) { return make_error(EINVAL, std::move(message)); }

struct Geometry {
  const ReadAt& read;
  uint64_t disk_size;
  uint64_t ss;  // sector size
  uint32_t number;
};

// Bytes [first*ss, (first+sectors)*ss) as a window, checked against the disk's end.
Result<Window> to_window(const Geometry& g, const char* table, uint64_t first, uint64_t sectors) {
  std::string name = std::string(table) + " partition " + std::to_string(g.number);
  uint64_t max_sectors = g.disk_size / g.ss;
  if (first > max_sectors || sectors > max_sectors - first)
    return bad(name + " (sectors " + std::to_string(first) + "+" + std::to_string(sectors) + " of " +
               std::to_string(g.ss) + " bytes) extends beyond the end of the disk (" +
               std::to_string(g.disk_size) + " bytes)");
  return Window{first * g.ss, sectors * g.ss, table};
}

struct MbrEntry {
  uint8_t type = 0;
  uint64_t start = 0, sectors = 0;
  bool empty() const { return type == 0 || sectors == 0; }
  bool extended() const { return type == 0x05 || type == 0x0f || type == 0x85; }
};

MbrEntry mbr_entry(const std::byte* sector, int i) {
  const std::byte* p = sector + 446 + 16 * i;
  return {static_cast<uint8_t>(p[4]), get_le(p + 8, 4), get_le(p + 12, 4)};
}

bool has_mbr_signature(const std::byte* sector) {
  return sector[510] == std::byte{0x55} && sector[511] == std::byte{0xaa};
}

// Logical partitions: each EBR holds one partition (start relative to that EBR) and a link to
// the next EBR (start relative to the extended partition). Linux numbers them from 5 on.
// True with `out` set when partition g.number is in this chain; next_number counts on.
Result<bool> find_logical(const Geometry& g, const MbrEntry& ext, uint32_t& next_number, Window& out) {
  std::vector<std::byte> sector(512);
  std::set<uint64_t> seen;
  uint64_t ebr = ext.start;
  for (int hops = 0; hops < kMaxEbrs; hops++) {
    if (!seen.insert(ebr).second)
      return bad("corrupt MBR: the EBR chain loops back to sector " + std::to_string(ebr));
    if (ebr < ext.start || ebr >= ext.start + ext.sectors || ebr >= g.disk_size / g.ss)
      return bad("corrupt MBR: an EBR link points to sector " + std::to_string(ebr) +
                 ", outside the extended partition or the disk");
    NBD_TRY(g.read(sector, ebr * g.ss));
    if (!has_mbr_signature(sector.data()))
      return bad("corrupt MBR: the EBR at sector " + std::to_string(ebr) + " has no 0x55AA signature");
    MbrEntry logical = mbr_entry(sector.data(), 0), link = mbr_entry(sector.data(), 1);
    if (!logical.empty() && !logical.extended()) {
      if (next_number == g.number) {
        NBD_TRY_ASSIGN(out, to_window(g, "MBR", ebr + logical.start, logical.sectors));
        return true;
      }
      next_number++;
    }
    if (link.empty() || !link.extended()) return false;
    ebr = ext.start + link.start;
  }
  return bad("corrupt MBR: the EBR chain has more than " + std::to_string(kMaxEbrs) + " links");
}

Result<Window> find_mbr(const Geometry& g, const std::byte* mbr) {
  if (g.number <= 4) {
    MbrEntry e = mbr_entry(mbr, static_cast<int>(g.number - 1));
    if (e.empty()) return bad("MBR partition " + std::to_string(g.number) + " not found (its slot is empty)");
    if (e.extended())
      return bad(
          "MBR partition " + std::to_string(g.number) +
          " is an extended partition (the container of logical partitions 5 and up), not a data partition");
    return to_window(g, "MBR", e.start, e.sectors);
  }
  uint32_t next_number = 5;
  for (int i = 0; i < 4; i++) {
    MbrEntry e = mbr_entry(mbr, i);
    if (e.empty() || !e.extended()) continue;
    Window w;
    NBD_TRY_ASSIGN(bool found, find_logical(g, e, next_number, w));
    if (found) return w;
  }
  std::string have = next_number == 5 ? "there are no logical partitions"
                                      : "logical partitions are 5 to " + std::to_string(next_number - 1);
  return bad("MBR partition " + std::to_string(g.number) + " not found (" + have + ")");
}

struct Gpt {
  uint32_t count = 0, entry_size = 0;
  std::vector<std::byte> entries;
};

// The header at `lba` and its entry array, with every field and both CRCs checked.
Result<Gpt> read_gpt(const Geometry& g, uint64_t lba) {
  std::string where = "GPT header at LBA " + std::to_string(lba);
  if (lba >= g.disk_size / g.ss) return bad(where + ": beyond the end of the disk");
  std::vector<std::byte> h(g.ss);
  NBD_TRY(g.read(h, lba * g.ss));
  if (std::memcmp(h.data(), "EFI PART", 8) != 0) return bad(where + ": no \"EFI PART\" signature");
  uint64_t revision = get_le(&h[8], 4), hsize = get_le(&h[12], 4), crc = get_le(&h[16], 4);
  if (revision >> 16 != 1) {
    char rev[16];
    std::snprintf(rev, sizeof rev, "0x%08llx", static_cast<unsigned long long>(revision));
    return bad(where + ": unsupported revision " + rev + " (this filter reads revision 1.x)");
  }
  if (hsize < 92 || hsize > g.ss)
    return bad(where + ": header size " + std::to_string(hsize) + " is not between 92 and " +
               std::to_string(g.ss));
  std::memset(&h[16], 0, 4);
  if (gpt::crc32(h.data(), hsize) != crc) return bad(where + ": header CRC mismatch");
  if (get_le(&h[24], 8) != lba)
    return bad(where + ": the header says it is at LBA " + std::to_string(get_le(&h[24], 8)));
  uint64_t entries_lba = get_le(&h[72], 8);
  Gpt t{static_cast<uint32_t>(get_le(&h[80], 4)), static_cast<uint32_t>(get_le(&h[84], 4)), {}};
  if (t.entry_size < 128 || t.entry_size > 4096 || (t.entry_size & (t.entry_size - 1)) != 0)
    return bad(where + ": partition entry size " + std::to_string(t.entry_size) +
               " is not a power of two from 128 to 4096");
  uint64_t bytes = uint64_t(t.count) * t.entry_size;
  if (bytes > kMaxGptEntryBytes)
    return bad(where + ": " + std::to_string(t.count) +
               " partition entries are more than this filter reads (" + std::to_string(kMaxGptEntryBytes) +
               " bytes)");
  if (entries_lba > g.disk_size / g.ss || bytes > g.disk_size - entries_lba * g.ss)
    return bad(where + ": the partition entries (LBA " + std::to_string(entries_lba) +
               ") lie beyond the end of the disk");
  t.entries.resize(bytes);
  NBD_TRY(g.read(t.entries, entries_lba * g.ss));
  if (gpt::crc32(t.entries.data(), bytes) != get_le(&h[88], 4))
    return bad(where + ": partition entries CRC mismatch");
  return t;
}

Result<Window> find_gpt(const Geometry& g) {
  auto t = read_gpt(g, 1);
  if (!t) {
    uint64_t last = g.disk_size / g.ss - 1;
    auto backup = read_gpt(g, last);
    if (!backup) {
      std::string hint;
      std::vector<std::byte> probe(8);
      uint64_t other = g.ss == 512 ? 4096 : 512;
      if (2 * other <= g.disk_size && g.read(probe, other) && std::memcmp(probe.data(), "EFI PART", 8) == 0)
        hint = " (there is one for " + std::to_string(other) +
               "-byte sectors: use partition-sectorsize=" + std::to_string(other) + ")";
      return bad(t.error().message + "; backup " + backup.error().message + hint);
    }
    log::warning("partition: primary GPT is damaged (%s); using the backup at LBA %llu",
                 t.error().message.c_str(), static_cast<unsigned long long>(last));
    t = std::move(backup);
  }
  std::string name = "GPT partition " + std::to_string(g.number);
  if (g.number > t->count)
    return bad(name + " is out of range (the table has " + std::to_string(t->count) + " entries)");
  const std::byte* e = t->entries.data() + uint64_t(g.number - 1) * t->entry_size;
  static constexpr std::byte kUnused[16] = {};
  if (std::memcmp(e, kUnused, 16) == 0) return bad(name + " not found (its entry is unused)");
  uint64_t first = get_le(e + 32, 8), last = get_le(e + 40, 8);
  if (last < first)
    return bad("corrupt GPT: " + name + " ends (LBA " + std::to_string(last) + ") before it starts (LBA " +
               std::to_string(first) + ")");
  if (last - first == UINT64_MAX) return bad("corrupt GPT: " + name + " is larger than any disk");
  return to_window(g, "GPT", first, last - first + 1);
}

}  // namespace

Result<Window> find_partition(const ReadAt& read, uint64_t disk_size, uint32_t sector_size, uint32_t number) {
  Geometry g{read, disk_size, sector_size, number};
  if (disk_size < 2 * g.ss)
    return bad("the disk (" + std::to_string(disk_size) + " bytes) is too small for a partition table with " +
               std::to_string(g.ss) + "-byte sectors");
  std::vector<std::byte> mbr(512), sig(8);
  NBD_TRY(read(mbr, 0));
  NBD_TRY(read(sig, g.ss));
  bool mbr_ok = has_mbr_signature(mbr.data()), protective = false;
  for (int i = 0; i < 4 && mbr_ok; i++) protective |= mbr_entry(mbr.data(), i).type == 0xee;
  if (std::memcmp(sig.data(), "EFI PART", 8) == 0 || protective) return find_gpt(g);
  if (mbr_ok) return find_mbr(g, mbr.data());
  return bad("the disk has no partition table (no MBR 0x55AA signature, no GPT header at LBA 1)");
}

}  // namespace nbd::partition
