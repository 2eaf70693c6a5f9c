// SPDX-License-Identifier: BSD-3-Clause
// nbdfuse's command line (libnbd's nbdfuse(1)): options, MOUNTPOINT[/FILENAME], and the mode
// that says where the NBD server is.
#pragma once

#include <string>
#include <vector>

#include "nbd/result.h"

namespace nbdfuse {

enum class Mode { Uri, SocketActivation, Command, Fd, Tcp, Unix, Vsock };

struct Options {
  unsigned connections = 4;               // -C: used only when the mode and the server allow multi-conn
  std::vector<std::string> fuse_options;  // -o
  std::string pidfile;
  bool readonly = false, single_thread = false, verbose = false;
  bool help = false, fuse_help = false, version = false;
  std::string mountpoint;  // what FUSE mounts (a directory, or a regular file when naked)
  std::string filename;    // the file inside it ("nbd" by default); empty when naked
  Mode mode = Mode::Uri;
  std::vector<std::string> args;  // URI, CMD ARGS..., FD, HOST PORT, SOCKET, CID PORT
};

// An error's message is one line for "nbdfuse: MESSAGE".
nbd::Result<Options> parse_options(int argc, char** argv);
const char* usage_text();

}  // namespace nbdfuse
