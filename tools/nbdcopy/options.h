// SPDX-License-Identifier: BSD-3-Clause
// nbdcopy's command line: options as in libnbd's nbdcopy(1), and the SOURCE / DESTINATION
// words ("-", "null:", FILE, DEVICE, NBD-URI or "[ CMD ARGS ... ]").
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "copier.h"
#include "nbd/result.h"

namespace nbd::copy {

struct EndpointSpec {
  enum class Kind { Stdio, Null, Uri, File, Command };
  Kind kind = Kind::File;
  std::string text;               // as typed (for a command: its argv[0])
  std::vector<std::string> argv;  // Command only
};

struct Options {
  CopyOptions copy;
  bool help = false;
  bool version = false;
  unsigned connections = 4;
  int progress_fd = -1;       // --progress=FD
  bool progress_bar = false;  // -p
  bool sparse_set = false;    // -S given (else the destination's preferred block size counts)
  bool requests_set = false;
  bool queue_size_set = false;
  bool connections_set = false;  // -C given (else at most one connection per thread, like upstream)
  EndpointSpec source, destination;
  std::optional<BlkhashSpec> blkhash;  // --blkhash[=DIGEST[/SIZE]]
  std::string blkhash_file;            // --blkhash-file=FILE (default: standard output)
};

// Parses argv (argv[0] is the program). Errors are one line without the "nbdcopy: " prefix.
Result<Options> parse_options(int argc, char** argv);

// Requests in flight when -R is not given: enough to fill --queue-size, between 1 and 64.
unsigned requests_for(const CopyOptions& c);

// The --help text.
const char* usage_text();

}  // namespace nbd::copy
