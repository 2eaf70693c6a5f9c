// SPDX-License-Identifier: BSD-3-Clause
// TempDir: a private (0700) temporary directory, removed with its contents by its owner.
// The one mkdtemp for -U -, captive servers' sockets, sh's $tmpdir and the disk builders.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

#include "nbd/result.h"

namespace nbd {

// $TMPDIR when it is set and not empty, else fallback.
std::string temp_base(std::string_view fallback = "/tmp");

class TempDir {
 public:
  // Creates base/PREFIXXXXXXX (base empty: temp_base()). The error names the path.
  static Result<TempDir> create(std::string_view prefix, std::string_view base = {});

  TempDir() = default;
  TempDir(TempDir&& o) noexcept;
  TempDir& operator=(TempDir&& o) noexcept;
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() { remove(); }

  const std::string& path() const { return path_; }
  bool empty() const { return path_.empty(); }
  std::string file(std::string_view name) const { return path_ + "/" + std::string(name); }
  // Removes the directory and all in it, but only in the process that created it: a child
  // after fork (the server's -f, --run) never removes its parent's directory.
  void remove();
  // Makes this process the one that removes it: the server that daemonized calls it after
  // fork, as it is the one left running.
  void adopt();
  // Keeps the directory: the caller now owns it.
  std::string release();

 private:
  std::string path_;
  pid_t owner_ = -1;
};

}  // namespace nbd
