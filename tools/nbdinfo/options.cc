// SPDX-License-Identifier: BSD-3-Clause
// nbdinfo's command line: upstream's options and checks, plus [ CMD ARGS ... ] after --.
#include <cstdio>

#include "nbdinfo.h"

namespace nbdinfo {

using nbd::make_error;

void print_usage(FILE* f) {
  fputs(
      "\n"
      "Show facts about NBD servers and their exports:\n"
      "\n"
      "    nbdinfo [--json] NBD-URI | [ CMD ARGS ... ]\n"
      "    nbdinfo --size [--json] NBD-URI | [ CMD ARGS ... ]\n"
      "    nbdinfo --uri NBD-URI | [ CMD ARGS ... ]\n"
      "    nbdinfo --is read-only|rotational|tls NBD-URI | [ CMD ARGS ... ]\n"
      "    nbdinfo --can cache|connect|... NBD-URI | [ CMD ARGS ... ]\n"
      "    nbdinfo --has CONTEXT NBD-URI | [ CMD ARGS ... ]\n"
      "    nbdinfo --map[=CONTEXT] [--totals] [--json] NBD-URI | [ CMD ARGS ... ]\n"
      "    nbdinfo --map[=CONTEXT] --svg=FILE NBD-URI | [ CMD ARGS ... ]\n"
      "    nbdinfo -L|--list [--json] NBD-URI | [ CMD ARGS ... ]\n"
      "\n"
      "Other options:\n"
      "\n"
      "    nbdinfo --help\n"
      "    nbdinfo --version\n"
      "\n"
      "Examples:\n"
      "\n"
      "    nbdinfo nbd://localhost\n"
      "    nbdinfo \"nbd+unix:///?socket=/tmp/unixsock\"\n"
      "    nbdinfo --size nbd://example.com\n"
      "    nbdinfo --map nbd://example.com\n"
      "    nbdinfo --list nbd://example.com\n"
      "    nbdinfo --map -- [ qemu-nbd -r -f qcow2 file.qcow2 ]\n"
      "\n"
      "See tools/nbdinfo/README.md for the full description.\n",
      f);
}

namespace {

nbd::Error usage_error(std::string msg) { return make_error(EINVAL, std::move(msg)); }

bool take_value(const std::vector<std::string>& a, size_t& i, std::string_view name, std::string& out) {
  const std::string& s = a[i];
  if (s.size() > name.size() && s.compare(0, name.size(), name) == 0 && s[name.size()] == '=') {
    out = s.substr(name.size() + 1);
    return true;
  }
  if (s == name && i + 1 < a.size()) {
    out = a[++i];
    return true;
  }
  return false;
}

struct CanOption {
  const char* flag;
  const char* kind;
  bool negate;
};
constexpr CanOption kCanOptions[] = {
    {"--can", "can", false}, {"--cannot", "can", true}, {"--is", "is", false},
    {"--isnt", "is", true},  {"--has", "has", false},   {"--hasnt", "has", true},
};

// The target: a URI, or "[ CMD ARGS ... ]" (usually after --).
nbd::Status parse_target(const std::vector<std::string>& rest, Options& o) {
  if (rest.empty()) return usage_error("");
  if (rest[0] == "[") {
    if (rest.back() != "]" || rest.size() < 3)
      return usage_error("expecting [ CMD ARGS ... ] with the closing ]");
    o.command.assign(rest.begin() + 1, rest.end() - 1);
    return nbd::ok();
  }
  if (rest.size() != 1) return usage_error("");
  o.uri = rest[0];
  return nbd::ok();
}

}  // namespace

nbd::Result<Options> parse_options(const std::vector<std::string>& a) {
  Options o;
  bool list = false, map = false, size = false, can = false, uri = false;
  std::vector<std::string> rest;
  for (size_t i = 0; i < a.size(); ++i) {
    const std::string& s = a[i];
    std::string v;
    if (s == "--") {
      rest.assign(a.begin() + long(i) + 1, a.end());
      break;
    }
    if (s.empty() || s[0] != '-' || s == "-") {
      rest.assign(a.begin() + long(i), a.end());
      break;
    }
    if (s == "--help")
      o.help = true;
    else if (s == "-V" || s == "--version")
      o.version = true;
    else if (s == "--json")
      o.json = true;
    else if (s == "--totals" || s == "--summary")
      o.totals = true;
    else if (s == "--content")
      o.content = 1;
    else if (s == "--no-content")
      o.content = 0;
    else if (s == "-L" || s == "--list")
      list = true;
    else if (s == "--size")
      size = true;
    else if (s == "--uri")
      uri = true;
    else if (s == "--map")
      map = true;
    else if (s.rfind("--map=", 0) == 0) {
      map = true;
      o.map_context = s.substr(6);
    } else if (s.rfind("--svg=", 0) == 0) {
      o.svg = s.substr(6);
      if (o.svg.empty()) return make_error(EPERM, "--svg= needs a file name (or - for standard output)");
    } else if (s == "--svg") {
      return make_error(EPERM, "--svg needs a file name: --svg=FILE");
    } else if (s == "--color" || s == "--colour") {
      o.color = 1;
    } else if (s == "--no-color" || s == "--no-colour") {
      o.color = 0;
    } else {
      bool matched = false;
      for (const auto& c : kCanOptions)
        if (take_value(a, i, c.flag, v)) {
          can = matched = true;
          o.can_kind = c.kind;
          o.can_negate = c.negate;
          o.can_what = v;
          break;
        }
      if (!matched) return usage_error("unrecognized option '" + s + "'");
    }
  }
  if (o.help || o.version) return o;
  if (int(list) + int(map) + int(size) + int(can) + int(uri) > 1)
    return make_error(EPERM, "you cannot use --list, --map, --size, --uri and --can/--is/--has together.");
  if (o.totals && !map) return make_error(EPERM, "you must use --totals only with --map option.");
  if (o.map_context.empty()) return make_error(EPERM, "--map= needs a metadata context name");
  if (!o.svg.empty() && !map) return make_error(EPERM, "you must use --svg only with --map option.");
  if (!o.svg.empty() && (o.totals || o.json))
    return make_error(EPERM, "--svg draws the map: it cannot be used with --totals or --json.");
  o.mode = list   ? Mode::List
           : map  ? Mode::Map
           : size ? Mode::Size
           : can  ? Mode::Can
           : uri  ? Mode::Uri
                  : Mode::Info;
  NBD_TRY(parse_target(rest, o));
  return o;
}

std::string human_size(uint64_t bytes) {
  static const char kUnits[] = "KMGTPE";
  if (bytes == 0 || bytes % 1024 != 0) return std::to_string(bytes);
  int u = -1;
  while (bytes % 1024 == 0 && u < 5) {
    bytes /= 1024;
    ++u;
  }
  return std::to_string(bytes) + kUnits[u];
}

std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += char(c);
        }
    }
  }
  return out + "\"";
}

}  // namespace nbdinfo
