// SPDX-License-Identifier: BSD-3-Clause
// Command-line parser for nbdkit. Options may appear before or after PLUGIN (like GNU getopt's
// permutation); "--" ends the options. Every error is one line naming the argument.
#include "server/options.h"

#include <cctype>
#include <cstring>
#include <string_view>

#include "nbd/parse.h"

namespace nbd::server {
namespace {

enum class Arg { None, Required };

struct OptSpec {
  const char* long_name;
  char short_name;  // 0 if none
  Arg arg;
};

constexpr OptSpec kOpts[] = {
    {"ipv4-only", '4', Arg::None},
    {"ipv6-only", '6', Arg::None},
    {"debug", 'D', Arg::Required},
    {"exportname", 'e', Arg::Required},
    {"foreground", 'f', Arg::None},
    {"no-fork", 0, Arg::None},
    {"group", 'g', Arg::Required},
    {"ipaddr", 'i', Arg::Required},
    {"newstyle", 'n', Arg::None},
    {"oldstyle", 'o', Arg::None},
    {"pidfile", 'P', Arg::Required},
    {"port", 'p', Arg::Required},
    {"readonly", 'r', Arg::None},
    {"read-only", 0, Arg::None},
    {"single", 's', Arg::None},
    {"stdin", 0, Arg::None},
    {"threads", 't', Arg::Required},
    {"unix", 'U', Arg::Required},
    {"user", 'u', Arg::Required},
    {"verbose", 'v', Arg::None},
    {"version", 'V', Arg::None},
    {"help", 0, Arg::None},
    {"dump-config", 0, Arg::None},
    {"dump-plugin", 0, Arg::None},
    {"exit-with-parent", 0, Arg::None},
    {"filter", 0, Arg::Required},
    {"log", 0, Arg::Required},
    {"mask-handshake", 0, Arg::Required},
    {"no-sr", 0, Arg::None},
    {"no-structured-replies", 0, Arg::None},
    {"no-mc", 0, Arg::None},
    {"no-meta-contexts", 0, Arg::None},
    {"print-uri", 0, Arg::None},
    {"keepalive", 0, Arg::None},
    {"timeout", 0, Arg::Required},
    {"run", 0, Arg::Required},
    {"vsock", 0, Arg::None},
    {"selinux-label", 0, Arg::Required},
    {"swap", 0, Arg::None},
    {"tls", 0, Arg::Required},
    {"tls-certificates", 0, Arg::Required},
    {"tls-psk", 0, Arg::Required},
    {"tls-verify-peer", 0, Arg::None},
    {"long-options", 0, Arg::None},
    {"short-options", 0, Arg::None},
};

const OptSpec* find_long(std::string_view name) {
  for (const auto& o : kOpts)
    if (name == o.long_name) return &o;
  return nullptr;
}
const OptSpec* find_short(char c) {
  for (const auto& o : kOpts)
    if (o.short_name == c) return &o;
  return nullptr;
}

struct Flags {
  bool help = false, dump_plugin = false, version = false, dump_config = false;
  bool long_options = false, short_options = false;
};

// The options without a value: each sets one switch.
void set_switch(Options& o, Flags& f, std::string_view n) {
  if (n == "ipv4-only")
    o.ipv4_only = true;
  else if (n == "ipv6-only")
    o.ipv6_only = true;
  else if (n == "foreground" || n == "no-fork")
    o.foreground = true;
  else if (n == "newstyle")
    o.oldstyle = false;
  else if (n == "oldstyle")
    o.oldstyle = true;
  else if (n == "readonly" || n == "read-only")
    o.readonly = true;
  else if (n == "single" || n == "stdin")
    o.single = true;
  else if (n == "verbose")
    o.verbose = true;
  else if (n == "version")
    f.version = true;
  else if (n == "help")
    f.help = true;
  else if (n == "dump-config")
    f.dump_config = true;
  else if (n == "long-options")
    f.long_options = true;
  else if (n == "short-options")
    f.short_options = true;
  else if (n == "dump-plugin")
    f.dump_plugin = true;
  else if (n == "exit-with-parent")
    o.exit_with_parent = true;
  else if (n == "no-sr" || n == "no-structured-replies")
    o.no_sr = true;
  else if (n == "no-mc" || n == "no-meta-contexts")
    o.no_mc = true;
  else if (n == "print-uri")
    o.print_uri = true;
  else if (n == "keepalive")
    o.keepalive = true;
  else if (n == "vsock")
    o.vsock = true;
  else if (n == "swap")
    o.swap = true;
  else if (n == "tls-verify-peer")
    o.tls_verify_peer = true;
}

// -D NAME.FLAG=N, split at the first '.' and the first '=' as upstream does.
Status parse_debug(Options& o, const std::string& v) {
  size_t dot = v.find('.'), eq = v.find('=');
  const auto bad = make_error(EINVAL, "-D " + v + ": a debug flag must have the format NAME.FLAG=N");
  if (dot == 0 || dot == std::string::npos || eq == std::string::npos || eq < dot + 2) return bad;
  auto n64 = parse_int64("-D", v.substr(eq + 1));
  if (!n64 || *n64 < INT32_MIN || *n64 > INT32_MAX) return bad;
  o.debug.push_back({v.substr(0, dot), v.substr(dot + 1, eq - dot - 1), int(*n64)});
  return ok();
}

// --tls=off|on|require, with upstream's spellings (booleans; "required", "force").
Status parse_tls(Options& o, const std::string& v, const std::string& shown) {
  if (v == "off" || v == "no" || v == "false" || v == "0")
    o.tls = TlsMode::Off;
  else if (v == "on" || v == "yes" || v == "true" || v == "1")
    o.tls = TlsMode::On;
  else if (v == "require" || v == "required" || v == "force")
    o.tls = TlsMode::Require;
  else
    return make_error(EINVAL, shown + ": use --tls=off, --tls=on or --tls=require");
  return ok();
}

// The options that take a value, checked where the value has rules. `shown` is "--NAME=VALUE".
Status set_value(Options& o, std::string_view n, const std::string& v, const std::string& shown) {
  if (n == "debug") return parse_debug(o, v);
  if (n == "tls") return parse_tls(o, v, shown);
  if (n == "port") {
    NBD_TRY_ASSIGN(uint32_t p, parse_uint32("port", v));
    if (p == 0 || p > 65535) return make_error(EINVAL, shown + ": port must be 1..65535");
    o.port = std::to_string(p);
  } else if (n == "threads") {
    NBD_TRY_ASSIGN(uint32_t t, parse_uint32("threads", v));
    if (t == 0 || t > 1024) return make_error(EINVAL, shown + ": threads must be 1..1024");
    o.threads = t;
  } else if (n == "filter") {
    if (v.empty()) return make_error(EINVAL, "--filter: missing filter name");
    o.filters.push_back(v);
  } else if (n == "log") {
    if (v != "stderr" && v != "syslog" && v != "null")
      return make_error(EINVAL, shown + ": use --log=stderr, --log=syslog or --log=null");
    o.log = v;
  } else if (n == "mask-handshake") {
    NBD_TRY_ASSIGN(uint32_t m, parse_uint32("mask-handshake", v));
    o.mask_handshake = m;
  } else if (n == "timeout") {
    NBD_TRY_ASSIGN(o.timeout_ns, parse_delay_ns("timeout", v));
  } else if (n == "exportname")
    o.exportname = v;
  else if (n == "group")
    o.group = v;
  else if (n == "ipaddr")
    o.ipaddr = v;
  else if (n == "pidfile")
    o.pidfile = v;
  else if (n == "unix")
    o.unix_socket = v;
  else if (n == "user")
    o.user = v;
  else if (n == "run")
    o.run = v;
  else if (n == "tls-certificates")
    o.tls_certificates = v;
  else if (n == "tls-psk")
    o.tls_psk = v;
  else if (n == "selinux-label")  // as upstream's nbdkit built without libselinux
    return make_error(ENOTSUP, shown + ": this nbdkit was built without SELinux support");
  return ok();
}

Status apply(Options& o, Flags& f, const OptSpec& spec, const std::string& v) {
  std::string_view n = spec.long_name;
  if (spec.arg == Arg::None) {
    set_switch(o, f, n);
    return ok();
  }
  return set_value(o, n, v, "--" + std::string(n) + "=" + v);
}

Status check_combinations(const Options& o) {
  if (o.ipv4_only && o.ipv6_only) return make_error(EINVAL, "-4 and -6 cannot be used together");
  if (o.single && (!o.run.empty() || !o.unix_socket.empty() || !o.port.empty() || o.vsock))
    return make_error(EINVAL, "-s/--single cannot be combined with --run, -U, -p or --vsock");
  if (!o.unix_socket.empty() && (!o.port.empty() || !o.ipaddr.empty()))
    return make_error(EINVAL, "-U cannot be combined with -p or -i");
  if (o.oldstyle && o.tls == TlsMode::Require)
    return make_error(EINVAL, "cannot use oldstyle protocol (-o) and require TLS");
  return ok();
}

Status finish(Options& o, const Flags& f) {
  if (f.long_options)
    o.mode = Mode::LongOptions;
  else if (f.short_options)
    o.mode = Mode::ShortOptions;
  else if (f.version)
    o.mode = Mode::Version;
  else if (f.dump_config)
    o.mode = Mode::DumpConfig;
  else if (f.help)
    o.mode = o.plugin.empty() ? Mode::Help : Mode::PluginHelp;
  else if (f.dump_plugin) {
    if (o.plugin.empty())
      return make_error(EINVAL, "--dump-plugin: no plugin given (nbdkit PLUGIN --dump-plugin)");
    o.mode = Mode::DumpPlugin;
  } else {
    if (o.plugin.empty()) return make_error(EINVAL, "no plugin given (see nbdkit --help)");
    NBD_TRY(check_combinations(o));
  }
  return ok();
}

void add_word(Options& o, const std::string& w) {
  if (o.plugin.empty())
    o.plugin = w;
  else
    o.params.push_back(split_param(w));
}

// Handles one "-xyz" cluster; may consume the next argv word as an option argument.
Status short_cluster(Options& o, Flags& f, int argc, char** argv, int& i) {
  std::string_view a = argv[i];
  for (size_t k = 1; k < a.size(); ++k) {
    const OptSpec* s = find_short(a[k]);
    if (!s) return make_error(EINVAL, std::string("unknown option '-") + a[k] + "' (see nbdkit --help)");
    if (s->arg == Arg::None) {
      NBD_TRY(apply(o, f, *s, ""));
      continue;
    }
    std::string v;
    if (k + 1 < a.size())
      v = std::string(a.substr(k + 1));
    else if (i + 1 < argc)
      v = argv[++i];
    else
      return make_error(EINVAL, std::string("option '-") + a[k] + "' needs an argument");
    return apply(o, f, *s, v);
  }
  return ok();
}

Status long_option(Options& o, Flags& f, int argc, char** argv, int& i) {
  std::string_view a = std::string_view(argv[i]).substr(2);
  size_t eq = a.find('=');
  std::string_view name = a.substr(0, eq);
  const OptSpec* s = find_long(name);
  if (!s) return make_error(EINVAL, "unknown option '--" + std::string(name) + "' (see nbdkit --help)");
  if (s->arg == Arg::None) {
    if (eq != std::string_view::npos)
      return make_error(EINVAL, "option '--" + std::string(name) + "' does not take a value");
    return apply(o, f, *s, "");
  }
  std::string v;
  if (eq != std::string_view::npos)
    v = std::string(a.substr(eq + 1));
  else if (i + 1 < argc)
    v = argv[++i];
  else
    return make_error(EINVAL, "option '--" + std::string(name) + "' needs an argument");
  return apply(o, f, *s, v);
}

}  // namespace

bool is_path_like(const std::string& s) {
  return s.find('/') != std::string::npos || (s.size() > 3 && s.ends_with(".so"));
}

Param split_param(const std::string& arg) {
  size_t eq = arg.find('=');
  if (eq == std::string::npos || eq == 0) return {"", arg};
  for (size_t k = 0; k < eq; ++k) {
    unsigned char c = arg[k];
    if (!(std::isalnum(c) || c == '_' || c == '-' || c == '.')) return {"", arg};
  }
  if (std::isdigit(static_cast<unsigned char>(arg[0]))) return {"", arg};
  return {arg.substr(0, eq), arg.substr(eq + 1)};
}

Result<Options> parse_options(int argc, char** argv) {
  Options o;
  Flags f;
  bool only_words = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (only_words || a.size() < 2 || a[0] != '-') {
      add_word(o, a);
    } else if (a == "--") {
      only_words = true;
    } else if (a[1] == '-') {
      NBD_TRY(long_option(o, f, argc, argv, i));
    } else {
      NBD_TRY(short_cluster(o, f, argc, argv, i));
    }
  }
  NBD_TRY(finish(o, f));
  return o;
}

const char* usage_text() {
  return "nbdkit [-4|--ipv4-only] [-6|--ipv6-only]\n"
         "       [-D|--debug PLUGIN|FILTER|nbdkit.FLAG=N]\n"
         "       [--exit-with-parent] [-e|--exportname EXPORTNAME]\n"
         "       [--filter=FILTER ...] [-f|--foreground]\n"
         "       [-g|--group GROUP] [-i|--ipaddr IPADDR] [--keepalive]\n"
         "       [--log=stderr|syslog|null] [--mask-handshake=MASK]\n"
         "       [-n|--newstyle] [--no-mc] [--no-sr] [-o|--oldstyle]\n"
         "       [-P|--pidfile PIDFILE] [-p|--port PORT] [--print-uri]\n"
         "       [-r|--readonly] [--run 'COMMAND ARGS ...']\n"
         "       [--selinux-label=LABEL] [-s|--single] [--swap]\n"
         "       [-t|--threads THREADS] [--timeout SECONDS] [--tls=off|on|require]\n"
         "       [--tls-certificates=/path/to/certificates]\n"
         "       [--tls-psk=/path/to/pskfile] [--tls-verify-peer]\n"
         "       [-U|--unix SOCKET|-] [-u|--user USER]\n"
         "       [-v|--verbose] [--vsock]\n"
         "       PLUGIN [[KEY=]VALUE [KEY=VALUE [...]]]\n"
         "\n"
         "nbdkit --dump-config\n"
         "\n"
         "nbdkit PLUGIN --dump-plugin\n"
         "\n"
         "nbdkit PLUGIN --help\n"
         "\n"
         "nbdkit --help\n"
         "\n"
         "nbdkit [-V|--version]\n"
         "\n"
         "Plugins and filters are built in (see nbdkit --dump-config), or a path to a .so.\n"
         "Manual: man nbdkit, man nbdkit-PLUGIN-plugin, man nbdkit-FILTER-filter.\n";
}

std::string option_list(bool long_names) {
  std::string out;
  for (const auto& o : kOpts) {
    if (long_names)
      out += std::string("--") + o.long_name + "\n";
    else if (o.short_name)
      out += std::string("-") + o.short_name + "\n";
  }
  return out;
}

}  // namespace nbd::server
