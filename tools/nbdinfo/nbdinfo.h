// SPDX-License-Identifier: BSD-3-Clause
// nbdinfo: shared declarations of the command-line parser and the output modes
// (info/list in show.cc, --map in map.cc, --can/--is/--has in can.cc).
#pragma once

#include <cstdint>
#include <cstdio>
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
  std::string svg;          // --svg=FILE: the map as a picture instead of text ("-": standard output)
  std::string can_kind;     // "can", "is" or "has"
  std::string can_what;     // e.g. "read-only", "trim", "base:allocation"
  bool can_negate = false;  // --cannot / --isnt / --hasnt
  std::string uri;
  std::vector<std::string> command;  // [ CMD ARGS ... ]
  bool help = false;
  bool version = false;
  int color = -1;  // --color 1, --no-color 0; -1: colour when standard output is a terminal
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
// --map --svg=FILE (svg.cc): es covers [0, size) of context ctx, in order.
int write_svg(const std::vector<nbd::Extent>& es, const std::string& ctx, uint64_t size,
              const std::string& title, const std::string& path);
int do_can(nbd::client::Handle& h, const Options& o);

// Descriptions for --map types, e.g. base:allocation 3 -> "hole,zero".
std::string extent_description(std::string_view context, uint64_t type);

// ANSI colours in the text output, with upstream's choices (JSON is never coloured).
namespace ansi {
inline constexpr const char* kGrey = "\033[22;90m";          // protocol line, contexts, is_rotational
inline constexpr const char* kBoldBlack = "\033[1;30m";      // an export's name, size, content, URI; data
inline constexpr const char* kGreen = "\033[22;32m";         // a true can_*; clean
inline constexpr const char* kRed = "\033[22;31m";           // a false can_*; dirty
inline constexpr const char* kLocal = "\033[1;37m\033[40m";  // allocation-depth: local
inline constexpr const char* kBacking = "\033[47m";          // allocation-depth: from a backing file
inline bool enabled = false;                                 // set once in main

// Prints code now and the reset at the end of its scope, when colour is on and code is set.
class Span {
 public:
  explicit Span(const char* code) : on_(enabled && code) {
    if (on_) std::fputs(code, stdout);
  }
  ~Span() {
    if (on_) std::fputs("\033[0m", stdout);
  }
  Span(const Span&) = delete;
  Span& operator=(const Span&) = delete;

 private:
  bool on_;
};
}  // namespace ansi

// The colour of one --map line of this context and type, or nullptr for plain.
const char* extent_colour(std::string_view context, uint64_t type);

}  // namespace nbdinfo
