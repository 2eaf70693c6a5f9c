// SPDX-License-Identifier: BSD-3-Clause
// bench_loadgen's command line: each option is --name=value (or a bare --json / --verify).
#include "loadgen_options.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "nbd/client.h"

namespace nbd::bench {

namespace {

constexpr const char* kSynopsis =
    "bench_loadgen [--rw=randread|randwrite|randrw] [--bs=4096] [--qd=64] [--connections=N] [--threads=N]\n"
    "              [--runtime=SECONDS] [--rwmix=50] [--seed=N] [--json] [--verify] URI";

[[noreturn]] void bad(std::string_view arg, std::string_view why) {
  std::fprintf(stderr, "bench_loadgen: %.*s: %.*s\n", int(arg.size()), arg.data(), int(why.size()),
               why.data());
  std::exit(1);
}

// A decimal number in [lo, hi]; with sizes, a K, M or G suffix (powers of 1024) is allowed.
uint64_t number(std::string_view arg, std::string_view v, uint64_t lo, uint64_t hi, bool size = false) {
  std::string s(v);
  char* end = nullptr;
  errno = 0;
  unsigned long long n = s.empty() || s[0] == '-' ? 0 : std::strtoull(s.c_str(), &end, 10);
  if (!end || end == s.c_str()) bad(arg, "not a number");
  if (errno == ERANGE) n = hi;
  std::string_view rest(end);
  if (!rest.empty()) {
    int shift = rest == "K" || rest == "k"   ? 10
                : rest == "M" || rest == "m" ? 20
                : rest == "G" || rest == "g" ? 30
                                             : -1;
    if (!size) bad(arg, "not a number");
    if (shift < 0)
      bad(arg, "unknown size suffix '" + std::string(rest) + "' (use K, M, G or a plain number of bytes)");
    if (n > (hi >> shift))
      n = hi + 1;
    else
      n <<= shift;
  }
  if (n < lo || n > hi || errno == ERANGE)
    bad(arg, "must be between " + std::to_string(lo) + " and " + std::to_string(hi));
  return n;
}

double seconds(std::string_view arg, std::string_view v) {
  std::string s(v);
  char* end = nullptr;
  double d = s.empty() ? NAN : std::strtod(s.c_str(), &end);
  if (!end || *end || !std::isfinite(d)) bad(arg, "not a number");
  if (d <= 0 || d > 86400) bad(arg, "must be more than 0 and at most 86400 seconds");
  return d;
}

}  // namespace

const char* rw_name(Rw rw) {
  switch (rw) {
    case Rw::RandRead: return "randread";
    case Rw::RandWrite: return "randwrite";
    case Rw::RandRw: return "randrw";
  }
  return "?";
}

Options parse_options(int argc, char** argv) {
  Options o;
  bool have_threads = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::printf("usage: %s\n", kSynopsis);
      std::exit(0);
    }
    if (!arg.starts_with("--")) {
      if (!o.uri.empty()) bad(arg, "a second URI (only one is allowed)");
      if (!client::is_uri(arg)) bad(arg, "not an NBD URI (for example nbd+unix:///?socket=/tmp/sock)");
      o.uri = arg;
      continue;
    }
    size_t eq = arg.find('=');
    std::string_view name = arg.substr(2, eq == arg.npos ? arg.npos : eq - 2);
    std::string_view v = eq == arg.npos ? std::string_view() : arg.substr(eq + 1);
    bool flag = name == "json" || name == "verify";
    if (flag != (eq == arg.npos)) bad(arg, flag ? "takes no value" : "needs a value (--name=value)");
    if (name == "json")
      o.json = true;
    else if (name == "verify")
      o.verify = true;
    else if (name == "rw") {
      if (v == "randread")
        o.rw = Rw::RandRead;
      else if (v == "randwrite")
        o.rw = Rw::RandWrite;
      else if (v == "randrw")
        o.rw = Rw::RandRw;
      else
        bad(arg, "unknown mode (use randread, randwrite or randrw)");
    } else if (name == "bs")
      o.bs = number(arg, v, 512, 32 << 20, true);
    else if (name == "qd")
      o.qd = unsigned(number(arg, v, 1, 4096));
    else if (name == "connections")
      o.connections = unsigned(number(arg, v, 1, 1024));
    else if (name == "threads")
      o.threads = unsigned(number(arg, v, 1, 1024)), have_threads = true;
    else if (name == "runtime")
      o.runtime = seconds(arg, v);
    else if (name == "rwmix")
      o.rwmix = unsigned(number(arg, v, 0, 100));
    else if (name == "seed")
      o.seed = number(arg, v, 0, UINT64_MAX);
    else
      bad(arg, "unknown option (usage: bench_loadgen --help)");
  }
  if (o.uri.empty()) bad("URI", "missing (usage: bench_loadgen --help)");
  if (o.bs % 512) bad("--bs=" + std::to_string(o.bs), "must be a multiple of 512");
  if (!have_threads) o.threads = o.connections;
  if (o.threads > o.connections)
    bad("--threads=" + std::to_string(o.threads),
        "more threads than connections (" + std::to_string(o.connections) + "): each thread drives its own");
  return o;
}

}  // namespace nbd::bench
