// SPDX-License-Identifier: BSD-3-Clause
// Upstream's C filter ABI on our server: the loader of a struct nbdkit_filter (a C filter .so,
// filter API version 6) as an nbd::FilterInfo whose Filter adapts its callbacks (c_filter.cc).
#pragma once

#include <optional>
#include <string>

#include "nbd/filter.h"
#include "nbd/result.h"

struct nbdkit_filter;

namespace nbd::server::cabi {

// A C filter, given its filter_init (from dlsym, or a test's own): checks the version, calls
// its load callback and returns a record whose factory makes the adapter. At most 8 per
// process; the record lives as long as the process.
Result<const FilterInfo*> load_c_filter(nbdkit_filter* (*init)(), const std::string& path);

// For find_filter: the record if path is a C filter (defines filter_init, not
// nbdkit_cpp_filter_info); nullopt otherwise, so the caller's own loader reports on it.
std::optional<Result<const FilterInfo*>> try_load_c_filter(const std::string& path);

}  // namespace nbd::server::cabi
