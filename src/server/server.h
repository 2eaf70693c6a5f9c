// SPDX-License-Identifier: BSD-3-Clause
// The process-level server: listeners, forking into the background, pidfile, --run (captive
// mode), the accept loop, one thread per client, and a clean shutdown on SIGINT/SIGTERM.
#pragma once

#include "server/backend.h"
#include "server/options.h"

namespace nbd::server {

// Serves until a signal or the --run command ends; returns the process exit status
// (the --run command's status in captive mode). The backend must be configured and ready.
int serve(const Options& opts, Backend& backend);

}  // namespace nbd::server
