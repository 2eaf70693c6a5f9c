// SPDX-License-Identifier: BSD-3-Clause
// The file plugin's per-client I/O on one open file or block device (file_io.cc), separate
// from the configuration and export selection in file.cc.
#pragma once

#include <memory>
#include <string>

#include "nbd/plugin.h"

namespace nbd::plugins::file {

enum class Cache { Default, None };
enum class Fadvise { Normal, Random, Sequential };

struct IoOptions {
  Cache cache = Cache::Default;
  Fadvise fadvise = Fadvise::Normal;
};

// Takes ownership of fd (an open regular file or block device). `name` is used in errors.
// `writable` is false when the file could only be opened read-only.
Result<std::unique_ptr<Connection>> make_file_connection(int fd, std::string name, bool writable,
                                                         const IoOptions& opts);

// Opens path read-write, or read-only when readonly is set or writing is not permitted, and
// checks it is a regular file or block device.
Result<std::unique_ptr<Connection>> open_file(const std::string& path, bool readonly, const IoOptions& opts);

}  // namespace nbd::plugins::file
