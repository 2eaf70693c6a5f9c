// SPDX-License-Identifier: BSD-3-Clause
// The data language's external inputs: <FILE reads a file, <(SCRIPT) runs /bin/sh -c SCRIPT and
// takes its standard output. Both stop after `limit` bytes, so endless sources work under a slice.
#pragma once

#include <cstdint>
#include <string>

#include "data_image.h"
#include "nbd/result.h"

namespace nbd::data {

// Reads up to limit bytes of path (relative to the current directory). The error message is
// "PATH: REASON".
Result<Bytes> read_file(const std::string& path, uint64_t limit);

// Runs the script with /bin/sh in its own process group, stdin from /dev/null, and collects up to
// limit bytes of its output. Without a limit (UINT64_MAX) the script must exit with status 0;
// under a limit it is killed once it has given enough, and its status is ignored (as upstream).
Result<Bytes> run_script(const std::string& script, uint64_t limit);

}  // namespace nbd::data
