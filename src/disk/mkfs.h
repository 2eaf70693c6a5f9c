// SPDX-License-Identifier: BSD-3-Clause
// Helpers for the plugins that build disk images with external programs (iso, linuxdisk,
// tmpdisk, ondemand): running a shell script, temporary image files.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "nbd/result.h"

namespace nbd::vdisk {

// Runs `/bin/sh -c script args...` ($0 is args[0], "$@" the rest) with vars added to its
// environment, stdin from /dev/null and its stdout sent to our stderr. A non-zero exit is
// an error naming `what` and the exit status. Values reach the script as variables or
// arguments, never quoted into its text.
Status run_shell(std::string_view what, const std::string& script,
                 const std::vector<std::pair<std::string, std::string>>& vars = {},
                 const std::vector<std::string>& args = {});

// Creates a new empty file named PREFIXXXXXXX in $TMPDIR, or /var/tmp like upstream when
// it is unset, and returns its path.
Result<std::string> make_temp_file(std::string_view prefix);
// Opens path (read-only or read-write) and returns the descriptor.
Result<int> open_file(const std::string& path, bool writable);
// Size of an open file.
Result<uint64_t> file_size(int fd, std::string_view what);

// The configuration shared by tmpdisk and ondemand: size, type, label, command and any other
// KEY=VALUE, all of which reach the command as shell variables ($size in bytes, $type,
// $label, $KEY, and $disk, the file to create). Without command=, mkfs makes a filesystem.
class MkfsConfig {
 public:
  // Handles size, type, label, command and shell-variable-shaped keys; other keys are EINVAL.
  Status config(std::string_view key, std::string_view value);
  Status check(std::string_view plugin) const;  // size is required
  // Runs the command (or mkfs) so that it creates disk_path.
  Status create(const std::string& disk_path) const;
  uint64_t size() const { return size_; }

 private:
  uint64_t size_ = 0;
  bool size_set_ = false;
  std::string type_ = "ext4", label_, command_;
  std::vector<std::pair<std::string, std::string>> vars_;
};

}  // namespace nbd::vdisk
