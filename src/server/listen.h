// SPDX-License-Identifier: BSD-3-Clause
// Listening sockets: Unix (-U PATH, -U - private), TCP (-p/-i/-4/-6), --vsock and systemd
// socket activation (LISTEN_PID/LISTEN_FDS). All are close-on-exec.
#pragma once

#include <string>
#include <vector>

#include "common/temp_dir.h"
#include "nbd/result.h"
#include "server/options.h"

namespace nbd::server {

struct Listeners {
  std::vector<int> fds;
  std::string unix_path;  // the socket path, if a Unix socket
  TempDir private_dir;    // -U -: the temp dir to remove at exit
  std::string port;       // TCP or vsock port, if any
  std::string ipaddr;     // -i, if given (used in the URI instead of localhost)
  bool vsock = false;
  bool activated = false;  // socket activation

  // The URI clients use ($uri in --run), like upstream's: nbd+unix://?socket=... or
  // nbd://localhost:PORT, with /EXPORT when an export name is given; nbds... when TLS is
  // required.
  std::string uri(const std::string& exportname, bool tls = false) const;
  // Closes the fds and removes the socket file and the private dir.
  void close_and_remove();
};

Result<Listeners> open_listeners(const Options& o);

}  // namespace nbd::server
