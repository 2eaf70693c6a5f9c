// SPDX-License-Identifier: BSD-3-Clause
// Layout of a virtual partitioned disk (see mbr_gpt_layout.h). MBR disks with more than four
// partitions get three primaries, an extended partition and one EBR before each logical one.
#include "disk/mbr_gpt_layout.h"

#include <algorithm>
#include <cstring>

#include "disk/mbr.h"

namespace nbd::mbr_gpt {
namespace {

constexpr uint64_t kSector = 512;
uint64_t round_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

Status check_specs(const std::vector<PartitionSpec>& parts) {
  if (parts.empty()) return make_error(EINVAL, "at least one partition is needed");
  for (size_t i = 0; i < parts.size(); i++) {
    if (parts[i].size == 0)
      return make_error(EINVAL, "partition " + std::to_string(i + 1) + " (" + parts[i].name +
                                    "): zero-sized partitions are not allowed");
    if (parts[i].alignment == 0 || parts[i].alignment % kSector != 0)
      return make_error(
          EINVAL, "alignment=" + std::to_string(parts[i].alignment) + ": must be a non-zero multiple of 512");
  }
  return ok();
}

}  // namespace

void Layout::add(Region::Kind kind, uint64_t start, uint64_t end, size_t index) {
  if (end > start) regions_.push_back({start, end, kind, index});
}

uint64_t Layout::add_table(uint64_t start, std::span<const std::byte> bytes) {
  size_t at = tables_.size();
  tables_.insert(tables_.end(), bytes.begin(), bytes.end());
  add(Region::Kind::Table, start, start + bytes.size(), at);
  return start + bytes.size();
}

// Emits padding, the partition's content and the zero tail up to the next sector.
uint64_t Layout::place_partition(const PartitionSpec& p, size_t i, uint64_t offset) {
  add(Region::Kind::Zero, offset, part_start_[i], 0);
  add(Region::Kind::Partition, part_start_[i], part_start_[i] + p.size, i);
  uint64_t end = part_start_[i] + round_up(p.size, kSector);
  add(Region::Kind::Zero, part_start_[i] + p.size, end, 0);
  return end;
}

Status Layout::build_mbr(const std::vector<PartitionSpec>& parts) {
  size_t n = parts.size();
  bool extended = n > 4;
  std::vector<uint64_t> ebr(n, 0), end(n, 0);
  uint64_t off = kSector;
  for (size_t i = 0; i < n; i++) {
    if (extended && i >= 3) ebr[i] = off, off += kSector;
    part_start_[i] = round_up(off, parts[i].alignment);
    off = end[i] = part_start_[i] + round_up(parts[i].size, kSector);
  }
  if (off / kSector > mbr::kMaxSectors)
    return make_error(EINVAL,
                      "partition-type=mbr: the disk is larger than an MBR can address (2 TiB); use gpt");

  std::vector<mbr::Entry> primary;
  for (size_t i = 0; i < n && i < (extended ? 3 : 4); i++)
    primary.push_back(
        {parts[i].mbr_id, i == 0, part_start_[i] / kSector, (end[i] - part_start_[i]) / kSector});
  if (extended) primary.push_back({0x0f, false, ebr[3] / kSector, (off - ebr[3]) / kSector});
  std::byte sector[512] = {};
  mbr::encode_table(sector, primary);
  uint64_t cur = add_table(0, sector);
  for (size_t i = 0; i < n; i++) {
    if (extended && i >= 3) {
      std::vector<mbr::Entry> e{
          {parts[i].mbr_id, false, (part_start_[i] - ebr[i]) / kSector, (end[i] - part_start_[i]) / kSector}};
      if (i + 1 < n)
        e.push_back({0x0f, false, (ebr[i + 1] - ebr[3]) / kSector, (end[i + 1] - ebr[i + 1]) / kSector});
      std::memset(sector, 0, sizeof sector);
      mbr::encode_table(sector, e);
      add(Region::Kind::Zero, cur, ebr[i], 0);
      cur = add_table(ebr[i], sector);
    }
    cur = place_partition(parts[i], i, cur);
  }
  return ok();
}

Status Layout::build_gpt(const std::vector<PartitionSpec>& parts) {
  uint32_t count = gpt::entry_count(parts.size());
  std::vector<gpt::Partition> gparts;
  uint64_t off = gpt::primary_sectors(count) * kSector;
  for (size_t i = 0; i < parts.size(); i++) {
    part_start_[i] = round_up(off, parts[i].alignment);
    off = part_start_[i] + round_up(parts[i].size, kSector);
    gparts.push_back({parts[i].type_guid, gpt::guid_from_string(parts[i].seed + "#" + std::to_string(i)),
                      part_start_[i] / kSector, off / kSector - 1, i == 0 ? gpt::kAttrLegacyBootable : 0,
                      parts[i].name});
  }
  uint64_t disk_sectors = off / kSector + gpt::secondary_sectors(count);
  std::string disk_seed;
  for (const auto& p : parts) disk_seed += p.seed + "\n";
  auto tables = gpt::build_tables(disk_sectors, gparts, gpt::guid_from_string(disk_seed));
  uint64_t cur = add_table(0, tables.primary);
  for (size_t i = 0; i < parts.size(); i++) cur = place_partition(parts[i], i, cur);
  add_table(cur, tables.secondary);
  return ok();
}

Result<Layout> Layout::create(TableType type, const std::vector<PartitionSpec>& parts) {
  NBD_TRY(check_specs(parts));
  Layout l;
  l.part_start_.resize(parts.size());
  NBD_TRY(type == TableType::Mbr ? l.build_mbr(parts) : l.build_gpt(parts));
  return l;
}

const Region& Layout::find(uint64_t offset) const {
  auto it = std::upper_bound(regions_.begin(), regions_.end(), offset,
                             [](uint64_t o, const Region& r) { return o < r.start; });
  NBD_ASSERT(it != regions_.begin());
  return *--it;
}

Status Layout::read(std::span<std::byte> buf, uint64_t offset, const PartIo& read_part) const {
  while (!buf.empty()) {
    const Region& r = find(offset);
    size_t n = static_cast<size_t>(std::min<uint64_t>(buf.size(), r.end - offset));
    auto piece = buf.first(n);
    if (r.kind == Region::Kind::Table) {
      std::memcpy(piece.data(), table_bytes(r) + (offset - r.start), n);
    } else if (r.kind == Region::Kind::Zero) {
      std::memset(piece.data(), 0, n);
    } else {
      NBD_TRY(read_part(r.index, piece, offset - r.start));
    }
    buf = buf.subspan(n);
    offset += n;
  }
  return ok();
}

Status Layout::write(std::span<const std::byte> buf, uint64_t offset, const PartIo& write_part) const {
  while (!buf.empty()) {
    const Region& r = find(offset);
    size_t n = static_cast<size_t>(std::min<uint64_t>(buf.size(), r.end - offset));
    auto piece = buf.first(n);
    if (r.kind == Region::Kind::Partition) {
      NBD_TRY(write_part(r.index, std::span(const_cast<std::byte*>(piece.data()), n), offset - r.start));
    } else {
      bool same =
          r.kind == Region::Kind::Table
              ? std::memcmp(piece.data(), table_bytes(r) + (offset - r.start), n) == 0
              : std::all_of(piece.begin(), piece.end(), [](std::byte b) { return b == std::byte{0}; });
      if (!same)
        return make_error(EIO, "write at offset " + std::to_string(offset) +
                                   " would change the virtual partition table or padding");
    }
    buf = buf.subspan(n);
    offset += n;
  }
  return ok();
}

}  // namespace nbd::mbr_gpt
