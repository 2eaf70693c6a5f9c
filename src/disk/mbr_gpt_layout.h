// SPDX-License-Identifier: BSD-3-Clause
// The layout of a virtual partitioned disk (MBR or GPT): where each partition, each piece of
// partition table and each run of zero padding lies, and the table bytes themselves. Used by
// the partitioning and linuxdisk plugins; the plugin supplies the partitions' contents.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "disk/gpt.h"
#include "nbd/result.h"

namespace nbd::mbr_gpt {

enum class TableType { Mbr, Gpt };

struct PartitionSpec {
  uint64_t size = 0;             // bytes of content; the partition is rounded up to 512
  uint64_t alignment = 1 << 20;  // start of the partition is a multiple of this
  uint8_t mbr_id = 0x83;
  gpt::Guid type_guid = gpt::kLinuxFilesystem;
  std::string name;  // GPT partition name
  std::string seed;  // makes the GPT unique GUID (e.g. the file's path)
};

struct Region {
  enum class Kind { Table, Zero, Partition };
  uint64_t start = 0, end = 0;  // [start, end) on the virtual disk
  Kind kind = Kind::Zero;
  size_t index = 0;  // Partition: which one; Table: offset into table_bytes()
};

class Layout {
 public:
  // Fails with EINVAL naming the problem: a zero-sized partition, a bad alignment, or an MBR
  // that cannot address the disk.
  static Result<Layout> create(TableType type, const std::vector<PartitionSpec>& parts);

  uint64_t size() const { return regions_.empty() ? 0 : regions_.back().end; }
  const std::vector<Region>& regions() const { return regions_; }
  const Region& find(uint64_t offset) const;  // offset < size()
  const std::byte* table_bytes(const Region& r) const { return tables_.data() + r.index; }
  uint64_t partition_start(size_t i) const { return part_start_[i]; }

  // Reads [offset, offset+buf.size()): tables and padding from the layout, partition bytes by
  // calling read_part(partition index, buffer piece, offset within the partition).
  using PartIo = std::function<Status(size_t, std::span<std::byte>, uint64_t)>;
  Status read(std::span<std::byte> buf, uint64_t offset, const PartIo& read_part) const;
  // Writes go to partitions; over tables or padding they must not change a byte (else EIO).
  Status write(std::span<const std::byte> buf, uint64_t offset, const PartIo& write_part) const;

 private:
  void add(Region::Kind kind, uint64_t start, uint64_t end, size_t index);
  uint64_t add_table(uint64_t start, std::span<const std::byte> bytes);
  Status build_mbr(const std::vector<PartitionSpec>& parts);
  Status build_gpt(const std::vector<PartitionSpec>& parts);
  uint64_t place_partition(const PartitionSpec& p, size_t i, uint64_t offset);

  std::vector<Region> regions_;
  std::vector<std::byte> tables_;
  std::vector<uint64_t> part_start_;
};

}  // namespace nbd::mbr_gpt
