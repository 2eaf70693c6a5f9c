// SPDX-License-Identifier: BSD-3-Clause
// nbdinfo: shared declarations of the command-line parser and the output modes
// (info/list in show.cc, --map in map.cc, --can/--is/--has in can.cc).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "nbd/client.h"
#include "nbd/result.h"

namespace nbdinfo {

enum class Mode { Info, Size, Map, List, Can, Uri };

struct Options {
  Mode mode = Mode::Info;
  bool json = false;
  bool totals = false;
  int content = -1;  // -1: the default (on for info, off for --list)
  std::string map_context = "base:allocation";
  std::string can_kind;  // "can", "is" or "has"
  std::string can_what;  // e.g. "read-only", "trim", "base:allocation"
  bool can_negate = false;  // --cannot / --isnt / --hasnt
  std::string uri;
  std::vector<std::string> command;  // [ CMD ARGS ... ]
  bool help = false;
  bool version = false;
};

// Parses argv. An Error's message is one line for "nbdinfo: MESSAGE"; errnum EINVAL means
// "also print the usage".
nbd::Result<Options> parse_options(const std::vector<std::string>& args);
void print_usage(FILE* f);

// "1M", "2075312K", or the plain number when no unit divides it exactly.
std::string human_size(uint64_t bytes);
// A JSON string literal with quotes, escaped.
std::string json_string(std::string_view s);

// The modes. Each returns the process exit status.
int do_info(nbd::client::Handle& h, const Options& o);
int do_map(nbd::client::Handle& h, const Options& o);
int do_can(nbd::client::Handle& h, const Options& o);

// Descriptions for --map types, e.g. base:allocation 3 -> "hole,zero".
std::string extent_description(std::string_view context, uint64_t type);

}  // namespace nbdinfo
