// SPDX-License-Identifier: BSD-3-Clause
// Sizing an ext2/3/4 filesystem for a directory tree (see estimate.h). The estimate errs on
// the large side; the plugin still grows and retries if mke2fs runs out of room.
#include "estimate.h"

#include <dirent.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <set>
#include <utility>

namespace nbd::plugins::linuxdisk {
namespace {

uint64_t blocks_for(uint64_t bytes) { return (bytes + kBlock - 1) / kBlock; }

struct Walker {
  TreeUsage u;
  std::set<std::pair<dev_t, ino_t>> seen;  // hard links take one inode and one copy of data

  Status walk(const std::string& dir) {
    DIR* d = ::opendir(dir.c_str());
    if (!d) return make_error(errno, dir + ": " + std::strerror(errno));
    uint64_t dir_bytes = 24;  // "." and ".."
    Status r;
    while (struct dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name == "." || name == "..") continue;
      dir_bytes += 8 + (name.size() + 3) / 4 * 4;
      std::string path = dir + "/" + name;
      struct stat st;
      if (::lstat(path.c_str(), &st) < 0) {
        r = make_error(errno, path + ": " + std::strerror(errno));
        break;
      }
      if (!S_ISDIR(st.st_mode) && st.st_nlink > 1 && !seen.insert({st.st_dev, st.st_ino}).second) continue;
      u.inodes++;
      if (S_ISDIR(st.st_mode)) {
        r = walk(path);
        if (!r) break;
      } else if (S_ISREG(st.st_mode)) {
        uint64_t b = blocks_for(static_cast<uint64_t>(st.st_size));
        u.data_blocks += b + b / 1000 + (b > 12 ? 2 : 0);  // extent tree or indirect blocks
      } else if (S_ISLNK(st.st_mode) && st.st_size >= 60) {
        u.data_blocks += 1;  // shorter targets live inside the inode
      }
    }
    ::closedir(d);
    u.data_blocks += blocks_for(dir_bytes) + 1;  // +1 for htree index blocks of big dirs
    return r;
  }
};

uint64_t journal_blocks(uint64_t fs_blocks) {
  // mke2fs's default journal size grows with the filesystem.
  if (fs_blocks < 32768) return 1024;
  if (fs_blocks < 256 * 1024) return 4096;
  if (fs_blocks < 512 * 1024) return 8192;
  if (fs_blocks < 4096 * 1024) return 16384;
  return 32768;
}

}  // namespace

Result<TreeUsage> measure_tree(const std::string& dir) {
  Walker w;
  w.u.inodes = 1;  // the root directory
  NBD_TRY(w.walk(dir));
  return w.u;
}

uint64_t inode_count(const TreeUsage& usage) { return usage.inodes + 64 + usage.inodes / 10; }

uint64_t estimate_fs_size(const TreeUsage& usage, uint64_t extra, bool journal) {
  uint64_t inode_blocks = blocks_for(inode_count(usage) * 256);
  uint64_t blocks = usage.data_blocks + inode_blocks + blocks_for(extra);
  // Superblock, group descriptors, reserved GDT blocks, bitmaps: generously per 32768-block group.
  uint64_t groups = blocks / 32768 + 1;
  blocks += 64 + groups * 280;
  if (journal) blocks += journal_blocks(blocks);
  blocks += blocks / 50;  // 2% slack for directory growth and allocation granularity
  return blocks * kBlock;
}

}  // namespace nbd::plugins::linuxdisk
