// SPDX-License-Identifier: BSD-3-Clause
// Who is at the other end of a client socket: address and, for Unix sockets, credentials.
#pragma once

#include "nbd/plugin.h"

namespace nbd::server {

// getpeername + SO_PEERCRED; an empty Peer when fd is not a socket (-s on a pipe).
Peer peer_of(int fd);

}  // namespace nbd::server
