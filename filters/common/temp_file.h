// SPDX-License-Identifier: BSD-3-Clause
// An unlinked temporary file for the filters that keep data of their own (cow, cache, gzip):
// made in dir (empty: $TMPDIR, else /var/tmp, as upstream) and unlinked at once, so nothing
// outlives the server, not even after a crash.
#pragma once

#include <string_view>

#include "common/fd.h"
#include "nbd/result.h"

namespace nbd::filters {

// who names the filter in the file's name and in errors ("cow: temporary file ...").
Result<Fd> unlinked_temp_file(std::string_view who, std::string_view dir = {});

}  // namespace nbd::filters
