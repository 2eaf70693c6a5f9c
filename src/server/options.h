// SPDX-License-Identifier: BSD-3-Clause
// nbdkit's command line: `nbdkit [OPTIONS] PLUGIN [[KEY=]VALUE ...]`, parsed into Options.
// Pure (no I/O besides what the caller does with the result), so it is unit-tested directly.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "nbd/result.h"

namespace nbd::server {

enum class Mode { Serve, Help, Version, DumpConfig, DumpPlugin, PluginHelp, LongOptions, ShortOptions };

// --tls. Default: on when certificates are found (or --tls-psk is given), as upstream.
enum class TlsMode { Default, Off, On, Require };

struct Param {
  std::string key;  // empty: a bare VALUE for the plugin's magic config key
  std::string value;
};

// -D NAME.FLAG=N
struct DebugSetting {
  std::string name, flag;
  int value = 0;
};

struct Options {
  Mode mode = Mode::Serve;
  std::string plugin;                // name, or a path to a .so
  std::vector<std::string> filters;  // command-line order: [0] is closest to the client
  std::vector<Param> params;         // in command-line order

  // Where to listen.
  std::string port;         // -p; empty = default 10809 unless another listener is chosen
  std::string ipaddr;       // -i
  bool ipv4_only = false;   // -4
  bool ipv6_only = false;   // -6
  std::string unix_socket;  // -U PATH, or "-" for a private socket
  bool single = false;      // -s
  bool vsock = false;       // --vsock

  // Behaviour.
  std::string run;                  // --run CMD
  bool foreground = false;          // -f
  std::string pidfile;              // -P
  std::string exportname;           // -e
  bool readonly = false;            // -r
  unsigned threads = 16;            // -t
  bool verbose = false;             // -v
  std::vector<DebugSetting> debug;  // -D, in command-line order
  bool exit_with_parent = false;
  std::optional<uint32_t> mask_handshake;  // --mask-handshake=MASK
  bool no_sr = false;
  bool no_mc = false;
  bool oldstyle = false;  // -o (-n selects newstyle, the default)
  std::string log = "stderr";
  bool print_uri = false;
  bool keepalive = false;
  // --timeout: the whole handshake (TLS included) must finish within it; 0 = no limit. The
  // default bounds clients that connect and never finish (or trickle bytes).
  uint64_t timeout_ns = 60'000'000'000;
  std::string user, group;  // -u, -g
  bool swap = false;        // --swap: mlockall
  TlsMode tls = TlsMode::Default;
  std::string tls_certificates;  // --tls-certificates=DIR
  std::string tls_psk;           // --tls-psk=FILE
  bool tls_verify_peer = false;  // --tls-verify-peer
};

// Parses argv (argv[0] is the program). Errors are one line naming the offending argument,
// for the caller to print as "nbdkit: MESSAGE" and exit 1.
Result<Options> parse_options(int argc, char** argv);

// True if a word like "disk.img" or "./p.so" names a plugin/filter file rather than a built-in.
bool is_path_like(const std::string& s);

// Splits "KEY=VALUE": a parameter is KEY=VALUE only if KEY looks like an identifier
// ([A-Za-z0-9_.-]+, not starting with a digit... like upstream's is_config_key); otherwise the
// whole word is a bare VALUE (key "").
Param split_param(const std::string& arg);

// The "nbdkit --help" text.
const char* usage_text();
// --long-options / --short-options (as upstream, for bash completion): one option per line.
std::string option_list(bool long_names);

}  // namespace nbd::server
