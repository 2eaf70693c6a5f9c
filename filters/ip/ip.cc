// SPDX-License-Identifier: BSD-3-Clause
// ip filter: allows or denies clients by source address, Unix-socket credentials, vsock CID or
// port, and TLS client-certificate DN (allow=, deny=), like upstream's nbdkit-ip-filter.
// Everything but dn: rules is decided in preconnect, before the greeting; a decision that hangs
// on a dn: rule waits for open, after the handshake, when the TLS identity is known.
#include <arpa/inet.h>
#include <linux/vm_sockets.h>
#include <netinet/in.h>
#include <strings.h>

#include <cstring>
#include <string>
#include <vector>

#include "nbd/filter.h"
#include "nbd/log.h"
#include "nbd/parse.h"

namespace nbd::filters {
namespace {

nbd::DebugFlag debug_rules{"ip", "rules"};

struct Rule {
  enum class Kind { Any, AnyV4, AnyV6, AnyUnix, AnyVsock, V4, V6, Pid, Uid, Gid, VsockCid, VsockPort, Dn };
  Kind kind = Kind::Any;
  unsigned char addr[16] = {};  // V4: the first 4 bytes; network order
  unsigned prefix = 0;          // V4/V6: bits compared
  int64_t number = 0;           // Pid/Uid/Gid/VsockCid/VsockPort
  std::string dn;               // Dn: the exact distinguished name
  std::string text;             // as written, for debug output
};

// What a rule says of a client: Unknown only for a dn: rule before the TLS identity is known.
enum class Match { No, Yes, Unknown };

bool keyword_is(std::string_view s, const char* a, const char* b) {
  return (s.size() == std::strlen(a) && strncasecmp(s.data(), a, s.size()) == 0) ||
         (s.size() == std::strlen(b) && strncasecmp(s.data(), b, s.size()) == 0);
}

Result<Rule> parse_rule(std::string_view key, std::string_view entry) {
  Rule r;
  r.text = std::string(entry);
  std::string what = std::string(key) + "=" + std::string(entry);
  using K = Rule::Kind;
  if (keyword_is(entry, "all", "any")) return r.kind = K::Any, r;
  if (keyword_is(entry, "allipv4", "anyipv4")) return r.kind = K::AnyV4, r;
  if (keyword_is(entry, "allipv6", "anyipv6")) return r.kind = K::AnyV6, r;
  if (keyword_is(entry, "allunix", "anyunix")) return r.kind = K::AnyUnix, r;
  if (keyword_is(entry, "allvsock", "anyvsock")) return r.kind = K::AnyVsock, r;
  struct Numbered {
    const char* prefix;
    K kind;
  };
  for (auto [p, kind] : {Numbered{"pid:", K::Pid}, Numbered{"uid:", K::Uid}, Numbered{"gid:", K::Gid},
                         Numbered{"vsock-cid:", K::VsockCid}, Numbered{"vsock-port:", K::VsockPort}}) {
    if (!entry.starts_with(p)) continue;
    auto n = parse_uint32(key, entry.substr(std::strlen(p)));
    if (!n) return make_error(EINVAL, what + ": expected a non-negative decimal number after " + p);
    r.kind = kind, r.number = *n;
    return r;
  }
  if (entry.starts_with("dn:")) {
    if (entry.size() == 3) return make_error(EINVAL, what + ": empty distinguished name after dn:");
    r.kind = K::Dn, r.dn = std::string(entry.substr(3));
    return r;
  }
  std::string_view addr = entry, bits;
  bool has_prefix = false;
  if (auto slash = entry.find('/'); slash != std::string_view::npos) {
    addr = entry.substr(0, slash), bits = entry.substr(slash + 1), has_prefix = true;
  }
  std::string a(addr);
  if (inet_pton(AF_INET, a.c_str(), r.addr) == 1)
    r.kind = K::V4, r.prefix = 32;
  else if (inet_pton(AF_INET6, a.c_str(), r.addr) == 1)
    r.kind = K::V6, r.prefix = 128;
  else
    return make_error(EINVAL, what +
                                  ": not an address, range or keyword (use A.B.C.D[/NN], A:B:...[/NN], all, "
                                  "anyipv4, anyipv6, allunix, allvsock, pid:, uid:, gid:, vsock-cid:, "
                                  "vsock-port: or dn:)");
  if (has_prefix) {
    unsigned max = r.prefix;
    auto n = parse_uint32(what, bits);
    if (!n || *n > max)
      return make_error(EINVAL, what + ": prefix length must be 0 to " + std::to_string(max));
    r.prefix = *n;
  }
  return r;
}

// Compares the first `bits` bits of two addresses in network order.
bool prefix_equal(const unsigned char* a, const unsigned char* b, unsigned bits) {
  size_t whole = bits / 8;
  if (std::memcmp(a, b, whole) != 0) return false;
  unsigned rest = bits % 8;
  if (rest == 0) return true;
  unsigned char mask = static_cast<unsigned char>(0xff << (8 - rest));
  return (a[whole] & mask) == (b[whole] & mask);
}

// dn: null while the TLS identity is not known yet (preconnect); else the client's DN, empty
// without TLS or without a client certificate (which matches no dn: rule).
Match match(const Rule& r, const Peer& peer, const std::string* dn) {
  using K = Rule::Kind;
  int family = peer.family();
  auto yes = [](bool b) { return b ? Match::Yes : Match::No; };
  switch (r.kind) {
    case K::Any: return Match::Yes;
    case K::AnyV4: return yes(family == AF_INET);
    case K::AnyV6: return yes(family == AF_INET6);
    case K::AnyUnix: return yes(family == AF_UNIX);
    case K::AnyVsock: return yes(family == AF_VSOCK);
    case K::V4: {
      if (family != AF_INET) return Match::No;
      auto* sin = reinterpret_cast<const sockaddr_in*>(&peer.addr);
      return yes(prefix_equal(reinterpret_cast<const unsigned char*>(&sin->sin_addr), r.addr, r.prefix));
    }
    case K::V6: {
      if (family != AF_INET6) return Match::No;
      auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&peer.addr);
      return yes(prefix_equal(sin6->sin6_addr.s6_addr, r.addr, r.prefix));
    }
    case K::Pid: return yes(family == AF_UNIX && peer.pid >= 0 && peer.pid == r.number);
    case K::Uid: return yes(family == AF_UNIX && peer.uid >= 0 && peer.uid == r.number);
    case K::Gid: return yes(family == AF_UNIX && peer.gid >= 0 && peer.gid == r.number);
    case K::VsockCid:
    case K::VsockPort: {
      if (family != AF_VSOCK) return Match::No;
      auto* svm = reinterpret_cast<const sockaddr_vm*>(&peer.addr);
      return yes(r.number == (r.kind == K::VsockCid ? svm->svm_cid : svm->svm_port));
    }
    case K::Dn:
      if (!dn) return Match::Unknown;
      return yes(!dn->empty() && *dn == r.dn);
  }
  return Match::No;
}

// The first match wins in each list; Unknown stops at the dn: rule that could still decide.
Match first_match(const std::vector<Rule>& rules, const Peer& peer, const std::string* dn) {
  bool unknown = false;
  for (const Rule& r : rules) {
    Match m = match(r, peer, dn);
    if (debug_rules)
      log::debug("ip: %s against rule %s: %s", peer.address.c_str(), r.text.c_str(),
                 m == Match::Yes  ? "match"
                 : m == Match::No ? "no match"
                                  : "not known yet");
    if (m == Match::Yes) return Match::Yes;
    if (m == Match::Unknown) unknown = true;
  }
  return unknown ? Match::Unknown : Match::No;
}

enum class Verdict { Allow, Deny, AfterHandshake };

// Upstream's order: a match in the allow list admits, else a match in the deny list refuses,
// else the client is admitted.
Verdict decide(const std::vector<Rule>& allow, const std::vector<Rule>& deny, const Peer& peer,
               const std::string* dn) {
  Match a = first_match(allow, peer, dn);
  if (a == Match::Yes) return Verdict::Allow;
  Match d = first_match(deny, peer, dn);
  if (d == Match::No) return Verdict::Allow;  // whatever a dn: allow rule would say
  if (a == Match::Unknown || d == Match::Unknown) return Verdict::AfterHandshake;
  return Verdict::Deny;
}

class IpFilter final : public Filter {
 public:
  Result<bool> config(std::string_view key, std::string_view value) override {
    if (key != "allow" && key != "deny") return false;
    auto& list = key == "allow" ? allow_ : deny_;
    // As upstream: an empty value adds no rule, and a trailing comma is allowed.
    size_t pos = 0;
    while (pos < value.size()) {
      size_t comma = value.find(',', pos);
      if (comma == std::string_view::npos) comma = value.size();
      // A DN has commas of its own: dn: takes the rest of the value.
      if (value.substr(pos).starts_with("dn:")) comma = value.size();
      std::string_view entry = value.substr(pos, comma - pos);
      if (entry.empty())
        return make_error(EINVAL, std::string(key) + "=" + std::string(value) + ": empty entry in the list");
      NBD_TRY_ASSIGN(Rule r, parse_rule(key, entry));
      list.push_back(std::move(r));
      pos = comma + 1;
    }
    return true;
  }
  Status config_complete() override {
    if (debug_rules) {
      for (const Rule& r : allow_) log::debug("ip: allow=%s", r.text.c_str());
      for (const Rule& r : deny_) log::debug("ip: deny=%s", r.text.c_str());
    }
    return ok();
  }
  Status preconnect(const Peer& peer, bool /*readonly*/) override {
    if (allow_.empty() && deny_.empty()) return ok();
    // Fail closed: without a peer address (a pipe) no rule can be checked.
    if (peer.addr_len == 0) return refused(peer);
    return decide(allow_, deny_, peer, nullptr) == Verdict::Deny ? refused(peer) : ok();
  }
  Result<std::unique_ptr<Connection>> open(const OpenParams& params, const NextOpen& next) override {
    if (has_dn_rules()) {
      std::string dn = params.is_tls ? params.tls_identity : std::string();
      if (decide(allow_, deny_, params.peer, &dn) != Verdict::Allow) return refused(params.peer);
    }
    return next(params);
  }

 private:
  bool has_dn_rules() const {
    for (const auto* list : {&allow_, &deny_})
      for (const Rule& r : *list)
        if (r.kind == Rule::Kind::Dn) return true;
    return false;
  }
  static Error refused(const Peer& peer) {
    std::string who = peer.address.empty() ? "client without a peer address" : "client " + peer.address;
    return Error{EPERM, "ip: " + who + " refused by the allow/deny rules"};
  }

  std::vector<Rule> allow_, deny_;  // written only while configuring, then read-only
};

constexpr ParamHelp kParams[] = {
    {"allow", "allow=addr[,addr...]  Set the allow list (may be given several times)."},
    {"deny", "deny=addr[,addr...]  Set the deny list (may be given several times)."},
};

}  // namespace

extern const FilterInfo ip_filter_info;
const FilterInfo ip_filter_info{
    .name = "ip",
    .description = "nbdkit ip filter: allow or deny clients by address, credentials or TLS DN",
    .params = kParams,
    .factory = [] { return std::unique_ptr<Filter>(std::make_unique<IpFilter>()); },
};

}  // namespace nbd::filters
