// SPDX-License-Identifier: BSD-3-Clause
// Reading the virtual FAT32 disk (see fat_image.h): table sectors from memory, FAT entries
// computed from the cluster runs, directory clusters from memory, file clusters from the host.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "disk/fat_image.h"

namespace nbd::fat {
namespace {

constexpr uint64_t kSector = 512;
constexpr uint64_t kPartStart = 2048 * kSector;
constexpr uint64_t kReservedBytes = 32 * kSector;

Status read_host_file(const std::string& path, std::span<std::byte> buf, uint64_t offset) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return make_error(errno, path + ": " + std::strerror(errno));
  size_t done = 0;
  while (done < buf.size()) {
    ssize_t r = ::pread(fd, buf.data() + done, buf.size() - done, static_cast<off_t>(offset + done));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    done += static_cast<size_t>(r);
  }
  int e = errno;
  ::close(fd);
  if (done < buf.size()) {
    return make_error(done == 0 && e ? e : EIO, path + ": file shrank or could not be read");
  }
  return ok();
}

}  // namespace

const Image::Node* Image::node_at_cluster(uint32_t cluster) const {
  auto it = std::upper_bound(by_cluster_.begin(), by_cluster_.end(), cluster,
                             [this](uint32_t c, size_t i) { return c < nodes_[i].first_cluster; });
  if (it == by_cluster_.begin()) return nullptr;
  const Node& n = nodes_[*--it];
  return cluster < n.first_cluster + n.cluster_count ? &n : nullptr;
}

uint32_t Image::fat_entry(uint32_t cluster) const {
  if (cluster == 0) return 0x0ffffff8;  // media byte in the low 8 bits
  if (cluster == 1) return 0x0fffffff;
  const Node* n = node_at_cluster(cluster);
  if (!n) return 0;  // free
  return cluster + 1 == n->first_cluster + n->cluster_count ? 0x0fffffff : cluster + 1;
}

Status Image::read(std::span<std::byte> buf, uint64_t offset) const {
  while (!buf.empty()) {
    size_t n;
    if (offset < kSector) {
      n = static_cast<size_t>(std::min<uint64_t>(buf.size(), kSector - offset));
      std::memcpy(buf.data(), mbr_.data() + offset, n);
    } else if (offset < kPartStart) {
      n = static_cast<size_t>(std::min<uint64_t>(buf.size(), kPartStart - offset));
      std::memset(buf.data(), 0, n);
    } else {
      return read_partition(buf, offset - kPartStart);
    }
    buf = buf.subspan(n);
    offset += n;
  }
  return ok();
}

Status Image::read_partition(std::span<std::byte> buf, uint64_t offset) const {
  uint64_t fat_bytes = uint64_t{fat_sectors_} * kSector;
  uint64_t data_start = kReservedBytes + 2 * fat_bytes;
  while (!buf.empty()) {
    size_t n;
    if (offset < kReservedBytes) {
      n = static_cast<size_t>(std::min<uint64_t>(buf.size(), kReservedBytes - offset));
      std::memcpy(buf.data(), reserved_.data() + offset, n);
    } else if (offset < data_start) {
      uint64_t in_fat = (offset - kReservedBytes) % fat_bytes;
      uint32_t entry = static_cast<uint32_t>(in_fat / 4);
      uint32_t skip = static_cast<uint32_t>(in_fat % 4);
      n = std::min<size_t>(buf.size(), 4 - skip);
      uint32_t v = entry < uint64_t{clusters_} + 2 ? fat_entry(entry) : 0;
      for (size_t k = 0; k < n; k++) buf[k] = std::byte((v >> (8 * (skip + k))) & 0xff);
    } else {
      return read_data(buf, offset - data_start);
    }
    buf = buf.subspan(n);
    offset += n;
  }
  return ok();
}

Status Image::read_data(std::span<std::byte> buf, uint64_t offset) const {
  uint64_t cs = uint64_t{spc_} * kSector;
  while (!buf.empty()) {
    uint64_t cluster = 2 + offset / cs;
    const Node* node =
        cluster <= kMaxClusters + 1 ? node_at_cluster(static_cast<uint32_t>(cluster)) : nullptr;
    size_t n;
    if (!node) {
      // Free space: zeroes up to the next allocated run, or to the end.
      auto it = std::upper_bound(by_cluster_.begin(), by_cluster_.end(), cluster,
                                 [this](uint64_t c, size_t i) { return c < nodes_[i].first_cluster; });
      uint64_t stop = it == by_cluster_.end() ? UINT64_MAX : (nodes_[*it].first_cluster - 2) * cs;
      n = static_cast<size_t>(std::min<uint64_t>(buf.size(), stop - offset));
      std::memset(buf.data(), 0, n);
    } else {
      uint64_t in_node = offset - (uint64_t{node->first_cluster} - 2) * cs;
      uint64_t node_end = uint64_t{node->cluster_count} * cs;
      n = static_cast<size_t>(std::min<uint64_t>(buf.size(), node_end - in_node));
      if (node->is_dir) {
        std::memcpy(buf.data(), node->bytes.data() + in_node, n);
      } else {
        size_t from_file =
            in_node < node->size ? static_cast<size_t>(std::min<uint64_t>(n, node->size - in_node)) : 0;
        if (from_file) NBD_TRY(read_host_file(node->host_path, buf.first(from_file), in_node));
        std::memset(buf.data() + from_file, 0, n - from_file);
      }
    }
    buf = buf.subspan(n);
    offset += n;
  }
  return ok();
}

Status Image::extents(uint64_t count, uint64_t offset, ExtentList& e) const {
  // Tables and used clusters are data; the gap before the partition and the free clusters
  // at the end (all clusters are allocated from 2 upwards) read as zeroes.
  uint64_t used_end =
      kPartStart + kReservedBytes + 2ull * fat_sectors_ * kSector + uint64_t{used_clusters_} * spc_ * kSector;
  const std::pair<uint64_t, uint32_t> runs[] = {{kSector, 0},
                                                {kPartStart, kExtentHole | kExtentZero},
                                                {used_end, 0},
                                                {disk_size_, kExtentHole | kExtentZero}};
  uint64_t at = 0, end = offset + count;
  for (const auto& [stop, type] : runs) {
    if (stop > at && stop > offset && at < end) NBD_TRY(e.add(at, stop - at, type));
    at = std::max(at, stop);
  }
  return ok();
}

}  // namespace nbd::fat
