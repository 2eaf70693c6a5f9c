// SPDX-License-Identifier: BSD-3-Clause
// Sizing an ext2/3/4 filesystem to hold a directory tree (linuxdisk plugin).
#pragma once

#include <cstdint>
#include <string>

#include "nbd/result.h"

namespace nbd::plugins::linuxdisk {

inline constexpr uint64_t kBlock = 4096;  // the plugin always makes 4 KiB-block filesystems

struct TreeUsage {
  uint64_t inodes = 0;       // files, directories, symlinks, devices (hard links count once)
  uint64_t data_blocks = 0;  // file contents, directory blocks and long symlinks, in 4 KiB blocks
};

// Walks dir (not following symlinks) and adds up what its contents need.
Result<TreeUsage> measure_tree(const std::string& dir);

// A filesystem size in bytes (a multiple of kBlock) likely to hold `usage` plus `extra` free
// bytes, with metadata and, when journal is set, an ext3/4 journal.
uint64_t estimate_fs_size(const TreeUsage& usage, uint64_t extra, bool journal);

// Inode count to ask mke2fs for: the tree's inodes plus some headroom.
uint64_t inode_count(const TreeUsage& usage);

}  // namespace nbd::plugins::linuxdisk
