// SPDX-License-Identifier: BSD-3-Clause
// A virtual FAT32 disk made from a host directory (floppy plugin): an MBR with one partition
// at 1 MiB holding boot sector, FSInfo, two FATs and the data area. Directories are built in
// memory at startup; the FATs are computed on the fly from the contiguous cluster run of each
// file or directory; file contents are read from the host files when a client asks.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <span>
#include <string>
#include <vector>

#include "nbd/plugin.h"
#include "nbd/result.h"

namespace nbd::fat {

inline constexpr uint32_t kMinClusters = 65525;  // fewer clusters make a FAT16, not a FAT32
inline constexpr uint32_t kMaxClusters = 0x0ffffff4;

class Image {
 public:
  // label: up to 11 ASCII characters. disk_size: the whole disk in bytes, or 0 for the
  // smallest disk holding the files (at least kMinClusters clusters).
  static Result<Image> create(const std::string& dir, const std::string& label, uint64_t disk_size);

  uint64_t size() const { return disk_size_; }
  Status read(std::span<std::byte> buf, uint64_t offset) const;
  Status extents(uint64_t count, uint64_t offset, ExtentList& e) const;

  // Geometry, for tests.
  uint32_t sectors_per_cluster() const { return spc_; }
  uint32_t clusters() const { return clusters_; }

 private:
  struct Node {
    std::string host_path, name;
    bool is_dir = false;
    uint64_t size = 0;  // files: bytes; directories: bytes of entries
    time_t mtime = 0;
    size_t parent = 0;
    std::vector<size_t> children;
    uint32_t first_cluster = 0, cluster_count = 0;
    std::vector<std::byte> bytes;  // directories: their entries
    std::array<char, 11> short_name{};
    bool needs_lfn = false;
  };

  Status walk(size_t dir_index, int depth);
  Status assign_names();
  Status build_directory(size_t dir_index, const std::string& label);
  Status choose_geometry(uint64_t disk_size);
  void build_reserved(const std::string& label);
  uint32_t fat_entry(uint32_t cluster) const;
  const Node* node_at_cluster(uint32_t cluster) const;
  Status read_partition(std::span<std::byte> buf, uint64_t offset) const;
  Status read_data(std::span<std::byte> buf, uint64_t offset) const;

  std::vector<Node> nodes_;
  std::vector<size_t> by_cluster_;  // node indexes with clusters, in cluster order
  uint32_t spc_ = 1, clusters_ = 0, fat_sectors_ = 0, used_clusters_ = 0;
  uint64_t part_sectors_ = 0, disk_size_ = 0;
  std::vector<std::byte> mbr_, reserved_;
  std::string label_;
};

}  // namespace nbd::fat
