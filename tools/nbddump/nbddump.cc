// SPDX-License-Identifier: BSD-3-Clause
// nbddump: hexdump an NBD export (a URI or a "[ CMD ARGS ... ]" captive server) in the same
// format as libnbd's nbddump. Zero extents from block status are not read at all.
#include <getopt.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "hexdump.h"
#include "nbd/client.h"
#include "nbd/parse.h"

namespace {

struct Options {
  bool help = false, version = false;
  int color = -1;  // -1: if stdout is a terminal
  uint64_t limit = UINT64_MAX;
  uint64_t offset = 0;  // --offset (an extension: upstream 1.14 always starts at 0)
  std::string uri;
  std::vector<std::string> argv;  // captive server
};

const char kUsage[] =
    "nbddump: hexdump the contents of an NBD export\n"
    "\n"
    "usage: nbddump [--color|--no-color] [-n N|--length=N] [--offset=N] NBD-URI\n"
    "       nbddump [OPTIONS] -- [ CMD ARGS ... ]\n"
    "       nbddump --help | -V|--version\n";

nbd::Result<Options> parse(int argc, char** argv) {
  enum { kHelp = 256, kColor, kNoColor, kOffset };
  static const option longopts[] = {
      {"help", no_argument, nullptr, kHelp},
      {"color", no_argument, nullptr, kColor},
      {"colour", no_argument, nullptr, kColor},
      {"no-color", no_argument, nullptr, kNoColor},
      {"no-colour", no_argument, nullptr, kNoColor},
      {"length", required_argument, nullptr, 'n'},
      {"version", no_argument, nullptr, 'V'},
      {"offset", required_argument, nullptr, kOffset},
      {nullptr, 0, nullptr, 0},
  };
  Options o;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, ":n:V", longopts, nullptr)) != -1) {
    switch (c) {
      case kHelp: o.help = true; break;
      case kColor: o.color = 1; break;
      case kNoColor: o.color = 0; break;
      case 'V': o.version = true; break;
      case 'n': {
        NBD_TRY_ASSIGN(o.limit, nbd::parse_size("--length", optarg));
        break;
      }
      case kOffset: {  // 0x... as printed in the dump, or a size such as 4K
        std::string_view v = optarg;
        if (v.starts_with("0x") || v.starts_with("0X")) {
          NBD_TRY_ASSIGN(o.offset, nbd::parse_uint64("--offset", v));
        } else {
          NBD_TRY_ASSIGN(o.offset, nbd::parse_size("--offset", v));
        }
        break;
      }
      case ':':
        return nbd::make_error(EINVAL, std::string("option '") + argv[optind - 1] + "' needs a value");
      default:
        return nbd::make_error(EINVAL,
                               std::string("unrecognized option '") + argv[optind - 1] + "' (try --help)");
    }
  }
  if (o.help || o.version) return o;
  std::vector<std::string> args(argv + optind, argv + argc);
  if (!args.empty() && args[0] == "[") {
    if (args.back() != "]" || args.size() < 3)
      return nbd::make_error(EINVAL, "expected [ CMD ARGS ... ] with '[' and ']' as separate words");
    o.argv.assign(args.begin() + 1, args.end() - 1);
  } else if (args.size() == 1) {
    o.uri = args[0];
  } else {
    return nbd::make_error(EINVAL, "expected one NBD URI or [ CMD ARGS ... ] (try --help)");
  }
  return o;
}

nbd::Status dump(nbd::client::Handle& h, const Options& o) {
  NBD_TRY_ASSIGN(int64_t size, h.get_size());
  const uint64_t start = std::min<uint64_t>(static_cast<uint64_t>(size), o.offset);
  const uint64_t end = start + std::min<uint64_t>(static_cast<uint64_t>(size) - start, o.limit);
  const bool color = o.color == -1 ? ::isatty(1) : o.color == 1;
  nbd::dump::HexDumper dumper(
      static_cast<uint64_t>(size), color,
      [](std::string_view s) { std::fwrite(s.data(), 1, s.size(), stdout); }, start);
  const bool extents = h.can_meta_context("base:allocation").value_or(false);
  constexpr uint64_t kChunk = 1 << 20;
  std::vector<std::byte> buf(kChunk);
  for (uint64_t off = start; off < end;) {
    uint64_t n = std::min(kChunk, end - off);
    bool zero = false;
    if (extents) {
      // How much of [off, off+n) is a zero extent, or data, starting at off.
      uint64_t len = 0;
      NBD_TRY(h.block_status_64(std::max<uint64_t>(n, std::min<uint64_t>(end - off, 1u << 30)), off,
                                [&](std::string_view ctx, uint64_t, std::span<const nbd::Extent> es, int*) {
                                  if (ctx == "base:allocation" && !es.empty() && len == 0) {
                                    len = es[0].length;
                                    zero = (es[0].flags & nbd::kExtentZero) != 0;
                                  }
                                  return 0;
                                }));
      if (len > 0) n = zero ? std::min(len, end - off) : std::min(n, len);
    }
    if (zero) {
      dumper.feed_zeroes(n);
    } else {
      NBD_TRY(h.pread({buf.data(), n}, off));
      dumper.feed({buf.data(), n});
    }
    off += n;
  }
  dumper.finish();
  if (std::fflush(stdout) != 0) return nbd::make_error(errno, "write error on standard output");
  return nbd::ok();
}

}  // namespace

int main(int argc, char** argv) {
  auto o = parse(argc, argv);
  if (!o) {
    std::fprintf(stderr, "nbddump: %s\n", o.error().message.c_str());
    return 1;
  }
  if (o->help) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (o->version) {
    std::printf("nbddump %s (nbdkit++)\n", nbd::client::version());
    return 0;
  }
  nbd::client::Handle h;
  (void)h.add_meta_context("base:allocation");
  h.set_pread_initialize(false);
  h.set_uri_allow_local_file(true);  // the user typed the URI, as nbdinfo and nbdcopy
  auto st = o->argv.empty() ? h.connect_uri(o->uri) : h.connect_systemd_socket_activation(o->argv);
  const std::string what = o->argv.empty() ? o->uri : o->argv[0];
  if (st) st = dump(h, *o);
  if (!st) {
    std::fprintf(stderr, "nbddump: %s: %s\n", what.c_str(), st.error().message.c_str());
    return 1;
  }
  (void)h.shutdown();
  return 0;
}
