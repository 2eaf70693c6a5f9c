// SPDX-License-Identifier: BSD-3-Clause
// Upstream-style backend debugging (-v): one line per call into each plugin and filter layer,
// "NAME: pread count=512 offset=0", with -D nbdkit.backend.controlpath=0 and
// -D nbdkit.backend.datapath=0 to silence the control path (open, can_*, close ...) or the data
// path (pread, pwrite, zero ...). Layers are traced only under -v: otherwise nothing is added.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "nbd/plugin.h"

namespace nbd::server {

// "NAME: WHAT" if the control path is traced (lifecycle calls: config, get_ready, open ...).
void trace_call(std::string_view name, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

// Wraps one layer's freshly opened connection so its calls are logged under `name`, and
// "NAME: close" when the wrapper goes. Returns c unchanged when tracing is off.
std::unique_ptr<Connection> traced(std::string name, std::unique_ptr<Connection> c);

}  // namespace nbd::server
