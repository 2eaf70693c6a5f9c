// SPDX-License-Identifier: BSD-3-Clause
// Command-line parsing for nbdcopy (see options.h).
#include "options.h"

#include <getopt.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string_view>
#include <thread>

#include "nbd/parse.h"

namespace nbd::copy {
namespace {

enum LongOnly {
  kHelp = 256,
  kAllocated,
  kDestIsZero,
  kFlush,
  kNoExtents,
  kQueueSize,
  kRequestSize,
  kSynchronous,
  kBlkhash,
  kBlkhashFile,
};

const option kLongOptions[] = {
    {"help", no_argument, nullptr, kHelp},
    {"allocated", no_argument, nullptr, kAllocated},
    {"blkhash", optional_argument, nullptr, kBlkhash},
    {"blkhash-file", required_argument, nullptr, kBlkhashFile},
    {"connections", required_argument, nullptr, 'C'},
    {"destination-is-zero", no_argument, nullptr, kDestIsZero},
    {"target-is-zero", no_argument, nullptr, kDestIsZero},
    {"flush", no_argument, nullptr, kFlush},
    {"no-extents", no_argument, nullptr, kNoExtents},
    {"progress", optional_argument, nullptr, 'p'},
    {"queue-size", required_argument, nullptr, kQueueSize},
    {"request-size", required_argument, nullptr, kRequestSize},
    {"requests", required_argument, nullptr, 'R'},
    {"sparse", required_argument, nullptr, 'S'},
    {"synchronous", no_argument, nullptr, kSynchronous},
    {"threads", required_argument, nullptr, 'T'},
    {"verbose", no_argument, nullptr, 'v'},
    {"version", no_argument, nullptr, 'V'},
    {nullptr, 0, nullptr, 0},
};

Result<unsigned> parse_count(const char* what, const char* value) {
  NBD_TRY_ASSIGN(uint32_t v, parse_uint32(what, value));
  return static_cast<unsigned>(v);
}

// The options without a value, each setting one switch; false when c is not one of them.
bool set_switch(int c, Options& o) {
  switch (c) {
    case kHelp: o.help = true; return true;
    case kAllocated: o.copy.allocated = true; return true;
    case kDestIsZero: o.copy.destination_is_zero = true; return true;
    case kFlush: o.copy.flush = true; return true;
    case kNoExtents: o.copy.no_extents = true; return true;
    case kSynchronous: o.copy.synchronous = true; return true;
    case 'v': o.copy.verbose = true; return true;
    case 'V': o.version = true; return true;
    default: return false;
  }
}

// -p alone draws a bar; -p=FD writes "N/100" lines to FD instead.
Status parse_progress(const char* arg, Options& o) {
  if (!arg) {
    o.progress_bar = true;
    return ok();
  }
  NBD_TRY_ASSIGN(uint32_t fd, parse_uint32("--progress", arg));
  if (fd > 1 << 20) return make_error(EINVAL, std::string("--progress=") + arg + ": not a file descriptor");
  o.progress_fd = static_cast<int>(fd);
  return ok();
}

Status parse_request_size(const char* arg, Options& o) {
  NBD_TRY_ASSIGN(uint64_t v, parse_size("--request-size", arg));
  if (v < 4096 || v > (32u << 20) || (v & (v - 1)) != 0)
    return make_error(
        EINVAL, std::string("--request-size=") + arg + ": must be a power of 2 between 4096 and 33554432");
  o.copy.request_size = static_cast<uint32_t>(v);
  return ok();
}

Status parse_sparse(const char* arg, Options& o) {
  NBD_TRY_ASSIGN(o.copy.sparse, parse_size("--sparse", arg));
  if (o.copy.sparse % 512 != 0)
    return make_error(EINVAL, std::string("--sparse=") + arg + ": must be 0 or a multiple of 512");
  o.sparse_set = true;
  return ok();
}

// A count that must be at least 1 (-C, -R); `set` records that the user chose it.
Status parse_positive(const char* what, const char* arg, unsigned& out, bool& set) {
  NBD_TRY_ASSIGN(out, parse_count(what, arg));
  if (out == 0) return make_error(EINVAL, std::string(what) + ": must be at least 1");
  set = true;
  return ok();
}

Status parse_one(int c, const char* arg, Options& o) {
  if (set_switch(c, o)) return ok();
  switch (c) {
    case kBlkhash: {
      NBD_TRY_ASSIGN(o.blkhash, parse_blkhash(arg ? arg : ""));
      return ok();
    }
    case kBlkhashFile: o.blkhash_file = arg; return ok();
    case 'C': return parse_positive("--connections", arg, o.connections, o.connections_set);
    case 'R': return parse_positive("--requests", arg, o.copy.requests, o.requests_set);
    case 'T': {
      NBD_TRY_ASSIGN(o.copy.threads, parse_count("--threads", arg));
      return ok();
    }
    case 'p': return parse_progress(arg, o);
    case kQueueSize: {
      NBD_TRY_ASSIGN(o.copy.queue_size, parse_size("--queue-size", arg));
      o.queue_size_set = true;
      return ok();
    }
    case kRequestSize: return parse_request_size(arg, o);
    case 'S': return parse_sparse(arg, o);
    default: return make_error(EINVAL, "unknown option (try --help)");
  }
}

// NBD URI schemes (nbd, nbds, nbd+unix, nbds+unix, nbd+vsock, nbds+vsock).
bool looks_like_uri(std::string_view s) {
  for (std::string_view scheme :
       {"nbd://", "nbds://", "nbd+unix://", "nbds+unix://", "nbd+vsock://", "nbds+vsock://"})
    if (s.starts_with(scheme)) return true;
  return false;
}

// One SOURCE or DESTINATION starting at args[i]; advances i past it.
Result<EndpointSpec> parse_endpoint(const std::vector<std::string>& args, size_t& i) {
  EndpointSpec s;
  const std::string& a = args[i++];
  if (a == "[") {
    s.kind = EndpointSpec::Kind::Command;
    while (i < args.size() && args[i] != "]") s.argv.push_back(args[i++]);
    if (i == args.size())
      return make_error(EINVAL, "'[' without a matching ']' (they must be separate words)");
    ++i;
    if (s.argv.empty()) return make_error(EINVAL, "'[ ]' needs a command between the brackets");
    s.text = s.argv[0];
  } else if (a == "-") {
    s.kind = EndpointSpec::Kind::Stdio;
    s.text = a;
  } else if (a == "null:") {
    s.kind = EndpointSpec::Kind::Null;
    s.text = a;
  } else if (looks_like_uri(a)) {
    s.kind = EndpointSpec::Kind::Uri;
    s.text = a;
  } else {
    s.text = a;
  }
  return s;
}

}  // namespace

unsigned requests_for(const CopyOptions& c) {
  return static_cast<unsigned>(std::clamp<uint64_t>(c.queue_size / c.request_size, 1, 64));
}

Result<Options> parse_options(int argc, char** argv) {
  Options o;
  o.copy.threads = 0;
  ::optind = 0;  // 0: glibc fully reinitialises getopt (parse_options may run more than once)
  ::opterr = 0;  // we print our own one-line message
  int c;
  while ((c = getopt_long(argc, argv, ":C:pR:S:T:vV", kLongOptions, nullptr)) != -1) {
    if (c == '?') {
      std::string_view word = argv[::optind - 1];
      std::string opt = word.starts_with("--") ? std::string(word.substr(0, word.find('=')))
                                               : std::string("-") + static_cast<char>(::optopt);
      return make_error(EINVAL, "unrecognized option '" + opt + "' (try --help)");
    }
    if (c == ':') return make_error(EINVAL, std::string("option '") + argv[::optind - 1] + "' needs a value");
    NBD_TRY(parse_one(c, ::optarg, o));
  }
  if (o.help || o.version) return o;
  std::vector<std::string> args(argv + ::optind, argv + argc);
  size_t i = 0;
  if (args.size() < 2) return make_error(EINVAL, "expected SOURCE and DESTINATION (try --help)");
  NBD_TRY_ASSIGN(o.source, parse_endpoint(args, i));
  if (i == args.size()) return make_error(EINVAL, "expected a DESTINATION after the SOURCE (try --help)");
  NBD_TRY_ASSIGN(o.destination, parse_endpoint(args, i));
  if (i != args.size())
    return make_error(EINVAL, "unexpected argument '" + args[i] + "' after the DESTINATION");
  if (o.source.kind == EndpointSpec::Kind::Null) return make_error(EINVAL, "null: can only be a destination");
  if (o.copy.threads == 0) o.copy.threads = std::max(1u, std::thread::hardware_concurrency());
  if (!o.requests_set) o.copy.requests = requests_for(o.copy);
  return o;
}

const char* usage_text() {
  return "nbdcopy: copy a disk between NBD servers, files, devices and pipes\n"
         "\n"
         "usage: nbdcopy [OPTIONS] SOURCE DESTINATION\n"
         "  SOURCE, DESTINATION: - | FILE | DEVICE | NBD-URI | [ CMD ARGS ... ]\n"
         "  DESTINATION may also be null: (discard the data)\n"
         "\n"
         "options:\n"
         "  --allocated              make the destination fully allocated (no holes)\n"
         "  --blkhash[=DIGEST[/SIZE]] print the blkhash of the data (md5, sha1, sha256, sha512;\n"
         "                           default sha256/64k)\n"
         "  --blkhash-file=FILE      write the blkhash to FILE instead of standard output\n"
         "  -C, --connections=N      NBD connections per server (multi-conn), default 4\n"
         "  --destination-is-zero    the destination already reads as zeroes (also --target-is-zero)\n"
         "  --flush                  flush the destination before exiting\n"
         "  --no-extents             read holes too instead of asking the source for them\n"
         "  -p, --progress[=FD]      progress bar, or \"N/100\" lines written to descriptor FD\n"
         "  --queue-size=N           bytes of request buffers per connection, default 4M (16M over TCP)\n"
         "  --request-size=N         bytes per request (power of 2, 4K to 32M), default 1M\n"
         "  -R, --requests=N         requests in flight per connection, default queue/request size\n"
         "  -S, --sparse=N           write zero blocks of N bytes as holes (0 = off), default 4K\n"
         "  --synchronous            one request at a time, in order\n"
         "  -T, --threads=N          copy threads, default: the number of CPUs\n"
         "  -v, --verbose            debug messages\n"
         "  -V, --version            print the version\n"
         "\n"
         "Use -- before a [ CMD ... ] whose arguments start with '-'.\n";
}

}  // namespace nbd::copy
