// SPDX-License-Identifier: BSD-3-Clause
// The virtual FAT32 disk (see fat_image.h). Layout of the partition: 32 reserved sectors
// (boot sector 0, FSInfo 1, backups 6 and 7), FAT 1, FAT 2, then clusters 2, 3, ...
#include "disk/fat_image.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <set>

#include "disk/fat_names.h"
#include "disk/mbr.h"

namespace nbd::fat {
namespace {

constexpr uint64_t kSector = 512;
constexpr uint64_t kPartStart = 2048 * kSector;
constexpr uint32_t kReserved = 32;

void put_le(std::byte* p, uint64_t v, int n) {
  for (int i = 0; i < n; i++) p[i] = std::byte((v >> (8 * i)) & 0xff);
}
uint64_t div_up(uint64_t a, uint64_t b) { return (a + b - 1) / b; }

}  // namespace

Status Image::walk(size_t dir_index, int depth) {
  if (depth > 128) return make_error(ELOOP, nodes_[dir_index].host_path + ": directories nest too deeply");
  std::string path = nodes_[dir_index].host_path;
  DIR* d = ::opendir(path.c_str());
  if (!d) return make_error(errno, path + ": " + std::strerror(errno));
  std::vector<std::string> names;
  while (struct dirent* e = ::readdir(d))
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) names.emplace_back(e->d_name);
  ::closedir(d);
  std::sort(names.begin(), names.end());
  for (const auto& name : names) {
    Node n;
    n.host_path = path + "/" + name;
    n.name = name;
    n.parent = dir_index;
    struct stat st;
    if (::lstat(n.host_path.c_str(), &st) < 0)
      return make_error(errno, n.host_path + ": " + std::strerror(errno));
    if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) continue;  // symlinks, devices... are left out
    if (S_ISREG(st.st_mode) && static_cast<uint64_t>(st.st_size) > 0xffffffffu)
      return make_error(EFBIG, n.host_path + ": file is larger than FAT32 allows (4 GiB - 1)");
    n.is_dir = S_ISDIR(st.st_mode);
    n.size = n.is_dir ? 0 : static_cast<uint64_t>(st.st_size);
    n.mtime = st.st_mtime;
    nodes_.push_back(std::move(n));
    size_t child = nodes_.size() - 1;
    nodes_[dir_index].children.push_back(child);
    if (nodes_[child].is_dir) NBD_TRY(walk(child, depth + 1));
  }
  return ok();
}

// Gives every child a short name (exact 8.3 names first, so generated ~N names avoid them),
// decides which need LFN entries, and sizes every directory.
Status Image::assign_names() {
  for (size_t di = 0; di < nodes_.size(); di++) {
    if (!nodes_[di].is_dir) continue;
    std::set<ShortName> used;
    uint64_t entries = di != 0 ? 2 : label_.empty() ? 0 : 1;  // "." and "..", or the volume label
    for (size_t ci : nodes_[di].children) {
      Node& c = nodes_[ci];
      c.needs_lfn = !exact_short_name(c.name, c.short_name) || used.count(c.short_name);
      if (!c.needs_lfn) used.insert(c.short_name);
    }
    for (size_t ci : nodes_[di].children) {
      Node& c = nodes_[ci];
      if (c.needs_lfn) {
        c.short_name = generate_short_name(c.name, used);
        used.insert(c.short_name);
        entries += (utf8_to_utf16(c.name).size() + 12) / 13;
      }
      entries++;
    }
    if (entries > 65536)
      return make_error(EFBIG, nodes_[di].host_path + ": too many entries for one FAT directory");
    nodes_[di].size = std::max<uint64_t>(entries, 1) * 32;  // even an empty root needs a cluster
  }
  return ok();
}

Status Image::build_directory(size_t di, const std::string& label) {
  Node& dir = nodes_[di];
  std::vector<std::byte> out;
  auto append = [&out](const std::array<std::byte, 32>& e) { out.insert(out.end(), e.begin(), e.end()); };
  if (di == 0 && !label.empty()) {
    DirEntry vol;
    vol.name.fill(' ');
    std::memcpy(vol.name.data(), label.data(), std::min<size_t>(label.size(), 11));
    vol.attributes = kAttrVolumeLabel;
    vol.mtime = dir.mtime;
    append(encode_entry(vol));
  } else if (di != 0) {
    DirEntry dot{{'.', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '},
                 kAttrDirectory,
                 dir.first_cluster,
                 0,
                 dir.mtime};
    append(encode_entry(dot));
    // ".." of a child of the root points at cluster 0, whatever the root's real cluster is.
    uint32_t up = dir.parent == 0 ? 0 : nodes_[dir.parent].first_cluster;
    DirEntry dotdot{
        {'.', '.', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '}, kAttrDirectory, up, 0, dir.mtime};
    append(encode_entry(dotdot));
  }
  for (size_t ci : dir.children) {
    const Node& c = nodes_[ci];
    if (c.needs_lfn) {
      NBD_TRY_ASSIGN(auto lfn, lfn_entries(c.name, c.short_name));
      for (const auto& e : lfn) append(e);
    }
    DirEntry de{c.short_name, c.is_dir ? kAttrDirectory : kAttrArchive, c.first_cluster,
                static_cast<uint32_t>(c.is_dir ? 0 : c.size), c.mtime};
    append(encode_entry(de));
  }
  out.resize(static_cast<size_t>(dir.cluster_count) * spc_ * kSector, std::byte{0});
  dir.bytes = std::move(out);
  return ok();
}

Status Image::choose_geometry(uint64_t disk_size) {
  // The smallest cluster that keeps the FAT within 4 Mi entries (16 MiB), else the smallest
  // that FAT32 can address at all: small clusters waste little, a short FAT reads fast.
  uint64_t part = disk_size / kSector > 2048 ? disk_size / kSector - 2048 : 0;
  auto count = [&](uint32_t spc, uint64_t& needed) {
    needed = 0;
    for (const auto& n : nodes_) needed += div_up(n.size, uint64_t{spc} * kSector);
    return disk_size ? part / spc : std::max<uint64_t>(needed, kMinClusters);
  };
  uint64_t needed = 0;
  for (uint64_t limit : {uint64_t{1} << 22, uint64_t{kMaxClusters}}) {
    for (spc_ = 1; spc_ <= 64; spc_ *= 2)
      if (count(spc_, needed) <= limit && needed <= kMaxClusters) break;
    if (spc_ <= 64) break;
  }
  if (spc_ > 64) return make_error(EFBIG, "the files or size are too large for one FAT32 filesystem");
  used_clusters_ = static_cast<uint32_t>(needed);
  if (disk_size == 0) {
    clusters_ = std::max(used_clusters_, kMinClusters);
    fat_sectors_ = static_cast<uint32_t>(div_up((uint64_t{clusters_} + 2) * 4, kSector));
    part_sectors_ = kReserved + 2ull * fat_sectors_ + uint64_t{clusters_} * spc_;
  } else {
    if (disk_size / kSector <= 2048 + kReserved)
      return make_error(EINVAL, "size=" + std::to_string(disk_size) + ": too small");
    part_sectors_ = disk_size / kSector - 2048;
    if (part_sectors_ > mbr::kMaxSectors) return make_error(EINVAL, "size: FAT32 disks are limited to 2 TiB");
    fat_sectors_ = static_cast<uint32_t>(div_up((part_sectors_ / spc_ + 2) * 4, kSector));
    uint64_t c = (part_sectors_ - kReserved - 2ull * fat_sectors_) / spc_;
    clusters_ = static_cast<uint32_t>(std::min<uint64_t>(c, kMaxClusters));
    if (clusters_ < used_clusters_ || clusters_ < kMinClusters)
      return make_error(ENOSPC, "size=" + std::to_string(disk_size) +
                                    ": too small for the files and a FAT32 of at least " +
                                    std::to_string(kMinClusters) + " clusters");
  }
  disk_size_ = kPartStart + part_sectors_ * kSector;
  return ok();
}

void Image::build_reserved(const std::string& label) {
  mbr_.assign(kSector, std::byte{0});
  mbr::Entry part{0x0c, false, 2048, part_sectors_};  // FAT32 with LBA addressing
  mbr::encode_table(mbr_, std::span(&part, 1));

  reserved_.assign(kReserved * kSector, std::byte{0});
  std::byte* b = reserved_.data();
  const uint8_t jump[3] = {0xeb, 0x58, 0x90};
  std::memcpy(b, jump, 3);
  std::memcpy(b + 3, "MSWIN4.1", 8);  // the OEM name the specification recommends
  put_le(b + 11, kSector, 2);
  b[13] = std::byte(static_cast<uint8_t>(spc_));
  put_le(b + 14, kReserved, 2);
  b[16] = std::byte{2};     // FATs
  b[21] = std::byte{0xf8};  // media: fixed disk
  put_le(b + 24, 63, 2);    // sectors per track and heads, for tools that want CHS
  put_le(b + 26, 255, 2);
  put_le(b + 28, 2048, 4);  // hidden sectors: the partition's start
  put_le(b + 32, part_sectors_, 4);
  put_le(b + 36, fat_sectors_, 4);
  put_le(b + 44, nodes_[0].first_cluster, 4);  // root directory
  put_le(b + 48, 1, 2);                        // FSInfo sector
  put_le(b + 50, 6, 2);                        // backup boot sector
  b[64] = std::byte{0x80};
  b[66] = std::byte{0x29};
  put_le(b + 67, 0x4e424400u ^ static_cast<uint32_t>(part_sectors_), 4);  // volume serial
  std::memset(b + 71, ' ', 11);
  std::memcpy(b + 71, label.empty() ? "NO NAME" : label.data(),
              std::min<size_t>(label.empty() ? 7 : label.size(), 11));
  std::memcpy(b + 82, "FAT32   ", 8);
  b[510] = std::byte{0x55};
  b[511] = std::byte{0xaa};
  std::byte* fsinfo = b + kSector;
  put_le(fsinfo, 0x41615252, 4);
  put_le(fsinfo + 484, 0x61417272, 4);
  put_le(fsinfo + 488, clusters_ - used_clusters_, 4);
  put_le(fsinfo + 492, used_clusters_ < clusters_ ? used_clusters_ + 2 : 0xffffffffu,
         4);  // next free, or unknown
  put_le(fsinfo + 508, 0xaa550000u, 4);
  std::memcpy(b + 6 * kSector, b, 2 * kSector);
}

Result<Image> Image::create(const std::string& dir, const std::string& label, uint64_t disk_size) {
  Image img;
  Node root;
  root.host_path = dir;
  root.is_dir = true;
  struct stat st;
  if (::stat(dir.c_str(), &st) < 0) return make_error(errno, dir + ": " + std::strerror(errno));
  if (!S_ISDIR(st.st_mode)) return make_error(ENOTDIR, dir + ": not a directory");
  root.mtime = st.st_mtime;
  img.nodes_.push_back(std::move(root));
  img.label_ = label;
  NBD_TRY(img.walk(0, 0));
  NBD_TRY(img.assign_names());
  NBD_TRY(img.choose_geometry(disk_size));
  uint32_t next = 2;
  for (size_t i = 0; i < img.nodes_.size(); i++) {
    Node& n = img.nodes_[i];
    n.cluster_count = static_cast<uint32_t>(div_up(n.size, uint64_t{img.spc_} * kSector));
    if (n.cluster_count == 0) continue;
    n.first_cluster = next;
    next += n.cluster_count;
    img.by_cluster_.push_back(i);
  }
  for (size_t i = 0; i < img.nodes_.size(); i++)
    if (img.nodes_[i].is_dir) NBD_TRY(img.build_directory(i, label));
  img.build_reserved(label);
  return img;
}

}  // namespace nbd::fat
