// SPDX-License-Identifier: BSD-3-Clause
// nbdfuse's command line (see options.h).
#include "options.h"

#include <sys/stat.h>

#include <cstring>

#include "nbd/parse.h"

namespace nbdfuse {

using nbd::make_error;

const char* usage_text() {
  return "Mount a network block device (NBD) as a file:\n"
         "\n"
         "    nbdfuse [-C N|--connections N] [-d] [-o FUSE-OPTION] [-P PIDFILE]\n"
         "            [-r] [-s] [-v|--verbose]\n"
         "            MOUNTPOINT[/FILENAME] URI\n"
         "    nbdfuse MOUNTPOINT[/FILENAME] [ CMD [ARGS ...] ]\n"
         "    nbdfuse MOUNTPOINT[/FILENAME] --command CMD [ARGS ...]\n"
         "    nbdfuse MOUNTPOINT[/FILENAME] --socket-activation CMD [ARGS ...]\n"
         "    nbdfuse MOUNTPOINT[/FILENAME] --fd N\n"
         "    nbdfuse MOUNTPOINT[/FILENAME] --tcp HOST PORT\n"
         "    nbdfuse MOUNTPOINT[/FILENAME] --unix SOCKET\n"
         "    nbdfuse MOUNTPOINT[/FILENAME] --vsock CID PORT\n"
         "\n"
         "To unmount:\n"
         "\n"
         "    fusermount3 -u MOUNTPOINT\n"
         "\n"
         "Other options:\n"
         "\n"
         "    nbdfuse --help\n"
         "    nbdfuse --fuse-help\n"
         "    nbdfuse -V|--version\n";
}

namespace {

// MOUNTPOINT[/FILENAME]: an existing directory is the mountpoint (file "nbd" in it); an
// existing regular file is mounted over ("naked"); anything else is DIR/FILENAME in an
// existing directory.
nbd::Status split_mountpoint(const std::string& arg, Options& o) {
  std::string a = arg;
  while (a.size() > 1 && a.back() == '/') a.pop_back();
  struct stat st;
  if (stat(a.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    o.mountpoint = a;
    o.filename = "nbd";
    return nbd::ok();
  }
  if (stat(a.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
    o.mountpoint = a;
    return nbd::ok();
  }
  size_t slash = a.rfind('/');
  std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : a.substr(0, slash);
  std::string file = slash == std::string::npos ? a : a.substr(slash + 1);
  if (stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return make_error(ENOENT, "mountpoint '" + arg + "': " + dir + " is not a directory (make it first)");
  o.mountpoint = dir;
  o.filename = file;
  return nbd::ok();
}

}  // namespace

nbd::Result<Options> parse_options(int argc, char** argv) {
  Options o;
  std::vector<std::string> a(argv + 1, argv + argc);
  size_t i = 0;
  auto value = [&](const std::string& opt) -> nbd::Result<std::string> {
    if (i + 1 >= a.size()) return make_error(EINVAL, "option '" + opt + "' needs a value");
    return a[++i];
  };
  for (; i < a.size(); ++i) {
    const std::string& s = a[i];
    if (s == "--") {
      ++i;
      break;
    }
    if (s.empty() || s[0] != '-') break;
    if (s == "--help") {
      o.help = true;
    } else if (s == "--fuse-help") {
      o.fuse_help = true;
    } else if (s == "-V" || s == "--version") {
      o.version = true;
    } else if (s == "-r" || s == "--readonly" || s == "--read-only") {
      o.readonly = true;
    } else if (s == "-s") {
      o.single_thread = true;
    } else if (s == "-v" || s == "--verbose" || s == "-d") {
      o.verbose = true;
    } else if (s == "-C" || s == "--connections" || s.rfind("--connections=", 0) == 0) {
      std::string v;
      if (s.rfind("--connections=", 0) == 0) {
        v = s.substr(14);
      } else {
        NBD_TRY_ASSIGN(v, value(s));
      }
      auto n = nbd::parse_uint32("--connections", v);
      if (!n || *n < 1 || *n > 1024)
        return make_error(EINVAL, "-C/--connections: '" + v + "': expected 1 to 1024");
      o.connections = *n;
    } else if (s == "-o") {
      NBD_TRY_ASSIGN(std::string v, value(s));
      o.fuse_options.push_back(v);
    } else if (s == "-P" || s == "--pidfile" || s.rfind("--pidfile=", 0) == 0) {
      if (s.rfind("--pidfile=", 0) == 0) {
        o.pidfile = s.substr(10);
      } else {
        NBD_TRY_ASSIGN(o.pidfile, value(s));
      }
    } else {
      return make_error(EINVAL, "unrecognized option '" + s + "' (try --help)");
    }
  }
  if (o.help || o.fuse_help || o.version) return o;
  if (i >= a.size())
    return make_error(EINVAL, "expected MOUNTPOINT[/FILENAME] and an NBD server (try --help)");
  NBD_TRY(split_mountpoint(a[i++], o));
  if (i >= a.size())
    return make_error(EINVAL, "expected an NBD URI, [ CMD ... ] or a mode option after the mountpoint");
  const std::string& m = a[i];
  std::vector<std::string> rest(a.begin() + long(i) + 1, a.end());
  auto want = [&](size_t n, const char* what) -> nbd::Status {
    if (rest.size() != n) return make_error(EINVAL, m + " needs " + what);
    return nbd::ok();
  };
  if (m == "[") {
    if (rest.empty() || rest.back() != "]")
      return make_error(EINVAL, "'[' without a command and a closing ']'");
    rest.pop_back();
    if (rest.empty()) return make_error(EINVAL, "'[ ]' needs a command");
    o.mode = Mode::SocketActivation;
  } else if (m == "--socket-activation" || m == "--command") {
    if (rest.empty()) return make_error(EINVAL, m + " needs a command");
    o.mode = m == "--command" ? Mode::Command : Mode::SocketActivation;
  } else if (m == "--fd") {
    NBD_TRY(want(1, "a file descriptor number"));
    o.mode = Mode::Fd;
  } else if (m == "--tcp") {
    NBD_TRY(want(2, "HOST PORT"));
    o.mode = Mode::Tcp;
  } else if (m == "--unix") {
    NBD_TRY(want(1, "a socket path"));
    o.mode = Mode::Unix;
  } else if (m == "--vsock") {
    NBD_TRY(want(2, "CID PORT"));
    o.mode = Mode::Vsock;
  } else if (m[0] == '-') {
    return make_error(EINVAL, "unrecognized mode '" + m + "' (try --help)");
  } else {
    if (!rest.empty()) return make_error(EINVAL, "unexpected '" + rest[0] + "' after the URI");
    rest = {m};
    o.mode = Mode::Uri;
  }
  o.args = rest;
  return o;
}

}  // namespace nbdfuse
