// SPDX-License-Identifier: BSD-3-Clause
// The layer right above the plugin: asks the plugin's can_* once per connection and emulates
// what it lacks (FUA by flush, zero by writing zeroes, cache by reading, extents as data), so
// every filter above sees a fully capable `next`.
#pragma once

#include <memory>

#include "nbd/plugin.h"

namespace nbd::server {

// Wraps a freshly opened plugin connection; fails if one of its can_* calls fails.
Result<std::unique_ptr<Connection>> make_emulated_connection(std::unique_ptr<Connection> plugin);

}  // namespace nbd::server
