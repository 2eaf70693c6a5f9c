// SPDX-License-Identifier: BSD-3-Clause
// NBD URIs (doc/uri.md of the NBD project): nbd[s]://, nbd[s]+unix://, nbd[s]+vsock://,
// with the export name in the path and connection details in the query.
#include <strings.h>

#include <cctype>
#include <cstring>

#include "client/impl.h"
#include "common/encoding.h"

namespace nbd::client {

namespace {

Error bad(std::string_view uri, const std::string& why) {
  return make_error(EINVAL, "unable to parse URI: " + std::string(uri) + ": " + why);
}

int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decodes s; allow_nul for the socket parameter (abstract sockets start with NUL).
Result<std::string> decode(std::string_view uri, std::string_view s, bool allow_nul) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    if (i + 2 >= s.size()) return bad(uri, "truncated percent-encoding");
    int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
    if (hi < 0 || lo < 0) return bad(uri, "invalid percent-encoding");
    char c = char(hi * 16 + lo);
    if (c == '\0' && !allow_nul) return bad(uri, "%00 is not allowed here");
    out += c;
    i += 2;
  }
  return out;
}

bool valid_uri_char(unsigned char c) {
  if (c <= 0x20 || c >= 0x7f) return false;
  return !strchr("\"<>\\^`{|}", c);
}

struct Scheme {
  const char* name;
  bool tls;
  Uri::Transport transport;
};
constexpr Scheme kSchemes[] = {
    {"nbd", false, Uri::Transport::Tcp},         {"nbds", true, Uri::Transport::Tcp},
    {"nbd+tcp", false, Uri::Transport::Tcp},     {"nbds+tcp", true, Uri::Transport::Tcp},
    {"nbd+unix", false, Uri::Transport::Unix},   {"nbds+unix", true, Uri::Transport::Unix},
    {"nbd+vsock", false, Uri::Transport::Vsock}, {"nbds+vsock", true, Uri::Transport::Vsock},
};

const Scheme* find_scheme(std::string_view s) {
  for (const auto& sc : kSchemes)
    if (s.size() == strlen(sc.name) && strncasecmp(s.data(), sc.name, s.size()) == 0) return &sc;
  return nullptr;
}

Status parse_authority(std::string_view uri, std::string_view a, Uri& u) {
  if (auto at = a.rfind('@'); at != std::string_view::npos) {
    NBD_TRY_ASSIGN(u.user, decode(uri, a.substr(0, at), false));
    a.remove_prefix(at + 1);
  }
  std::string_view host = a, port;
  if (!a.empty() && a[0] == '[') {
    auto close = a.find(']');
    if (close == std::string_view::npos) return bad(uri, "unterminated IPv6 literal");
    host = a.substr(1, close - 1);
    std::string_view rest = a.substr(close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':') return bad(uri, "unexpected characters after IPv6 literal");
      port = rest.substr(1);
    }
  } else if (auto colon = a.rfind(':'); colon != std::string_view::npos) {
    host = a.substr(0, colon);
    port = a.substr(colon + 1);
  }
  NBD_TRY_ASSIGN(u.host, decode(uri, host, false));
  if (!port.empty()) {
    unsigned long v = 0;
    for (char c : port) {
      if (!isdigit((unsigned char)c)) return bad(uri, "port must be a number");
      v = v * 10 + unsigned(c - '0');
      if (v > 65535) return bad(uri, "port is out of range");
    }
    u.port = std::string(port);
  }
  return ok();
}

Result<bool> parse_bool_param(std::string_view uri, const std::string& v) {
  static const char* const kTrue[] = {"1", "true", "yes", "on"};
  static const char* const kFalse[] = {"0", "false", "no", "off"};
  for (auto t : kTrue)
    if (strcasecmp(v.c_str(), t) == 0) return true;
  for (auto f : kFalse)
    if (strcasecmp(v.c_str(), f) == 0) return false;
  return bad(uri, "tls-verify-peer must be a boolean");
}

Status parse_query(std::string_view uri, std::string_view q, Uri& u) {
  while (!q.empty()) {
    size_t amp = q.find_first_of("&;");
    std::string_view kv = q.substr(0, amp);
    q = amp == std::string_view::npos ? std::string_view() : q.substr(amp + 1);
    if (kv.empty()) continue;
    size_t eq = kv.find('=');
    NBD_TRY_ASSIGN(std::string key, decode(uri, kv.substr(0, eq), false));
    std::string_view raw = eq == std::string_view::npos ? std::string_view() : kv.substr(eq + 1);
    NBD_TRY_ASSIGN(std::string val, decode(uri, raw, key == "socket"));
    if (key == "socket")
      u.socket = val;
    else if (key == "tls-certificates")
      u.tls_certificates = val;
    else if (key == "tls-psk-file")
      u.tls_psk_file = val;
    else if (key == "tls-hostname")
      u.tls_hostname = val;
    else if (key == "tls-username")
      u.tls_username = val;
    else if (key == "tls-verify-peer") {
      NBD_TRY_ASSIGN(bool b, parse_bool_param(uri, val));
      u.tls_verify_peer = b;
    } else if (key == "tls-type") {
      if (val != "anon" && val != "x509" && val != "psk")
        return bad(uri, "tls-type must be anon, x509 or psk");
    } else if (key.rfind("x-", 0) != 0) {
      return bad(uri, "unknown query parameter '" + key + "'");
    }
  }
  return ok();
}

}  // namespace

bool is_uri(std::string_view s) {
  auto p = s.find("://");
  return p != std::string_view::npos && find_scheme(s.substr(0, p)) != nullptr;
}

Result<Uri> parse_uri(std::string_view uri) {
  for (unsigned char c : uri)
    if (!valid_uri_char(c)) return bad(uri, "invalid character in URI");
  auto p = uri.find("://");
  if (p == std::string_view::npos) return bad(uri, "missing scheme (nbd://, nbd+unix://, ...)");
  const Scheme* sc = find_scheme(uri.substr(0, p));
  if (!sc) return bad(uri, "unknown scheme '" + std::string(uri.substr(0, p)) + "'");
  Uri u;
  u.tls = sc->tls;
  u.transport = sc->transport;
  u.port = "10809";
  std::string_view rest = uri.substr(p + 3);
  if (auto hash = rest.find('#'); hash != std::string_view::npos) rest = rest.substr(0, hash);
  std::string_view query;
  if (auto qm = rest.find('?'); qm != std::string_view::npos) {
    query = rest.substr(qm + 1);
    rest = rest.substr(0, qm);
  }
  size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
  NBD_TRY(parse_authority(uri, authority, u));
  NBD_TRY_ASSIGN(u.export_name, decode(uri, path, false));
  NBD_TRY(parse_query(uri, query, u));
  switch (u.transport) {
    case Uri::Transport::Tcp:
      if (!u.socket.empty()) return bad(uri, "socket= is only for nbd+unix:// URIs");
      if (u.host.empty()) u.host = "localhost";
      break;
    case Uri::Transport::Unix:
      if (u.socket.empty()) return bad(uri, "nbd+unix:// URIs need ?socket=PATH");
      break;
    case Uri::Transport::Vsock:
      if (u.host.empty()) return bad(uri, "nbd+vsock:// URIs need a CID");
      for (char c : u.host)
        if (!isdigit((unsigned char)c)) return bad(uri, "vsock CID must be a number");
      break;
  }
  return u;
}

std::string uri_encode_path(std::string_view s) { return percent_encode(s, "-._~!*'()/"); }

}  // namespace nbd::client
