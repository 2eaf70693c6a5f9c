// SPDX-License-Identifier: BSD-3-Clause
// ip filter: rule parsing, upstream's allow-then-deny order, and dn: rules decided at open.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <linux/vm_sockets.h>
#include <netinet/in.h>

#include "fixtures/fake_disk.h"

namespace nbd::filters {
extern const FilterInfo ip_filter_info;
namespace {

using namespace nbd::testing;

Peer ipv4(const char* a) {
  Peer p;
  auto* sin = reinterpret_cast<sockaddr_in*>(&p.addr);
  sin->sin_family = AF_INET;
  EXPECT_EQ(inet_pton(AF_INET, a, &sin->sin_addr), 1);
  p.addr_len = sizeof *sin;
  p.address = std::string(a) + ":1234";
  return p;
}
Peer ipv6(const char* a) {
  Peer p;
  auto* sin6 = reinterpret_cast<sockaddr_in6*>(&p.addr);
  sin6->sin6_family = AF_INET6;
  EXPECT_EQ(inet_pton(AF_INET6, a, &sin6->sin6_addr), 1);
  p.addr_len = sizeof *sin6;
  p.address = "[" + std::string(a) + "]:1234";
  return p;
}
Peer unix_peer(int64_t pid, int64_t uid, int64_t gid) {
  Peer p;
  p.addr.ss_family = AF_UNIX;
  p.addr_len = sizeof(sa_family_t);
  p.address = "unix";
  p.pid = pid, p.uid = uid, p.gid = gid;
  return p;
}
Peer vsock(unsigned cid, unsigned port) {
  Peer p;
  auto* svm = reinterpret_cast<sockaddr_vm*>(&p.addr);
  svm->svm_family = AF_VSOCK;
  svm->svm_cid = cid, svm->svm_port = port;
  p.addr_len = sizeof *svm;
  p.address = "vsock";
  return p;
}

std::unique_ptr<Filter> make(const std::vector<std::pair<std::string, std::string>>& kv) {
  auto f = ip_filter_info.factory();
  Status s = configure(*f, kv);
  EXPECT_TRUE(s) << (s ? "" : s.error().message);
  return f;
}
bool admitted(Filter& f, const Peer& p) { return bool(f.preconnect(p, false)); }

TEST(IpFilter, NoRulesAdmitsEveryone) {
  auto f = make({});
  EXPECT_TRUE(admitted(*f, ipv4("8.8.8.8")));
  EXPECT_TRUE(admitted(*f, Peer{}));  // even a pipe
}

TEST(IpFilter, AllowListFirstThenDenyThenAdmit) {
  auto f = make({{"deny", "all"}, {"allow", "127.0.0.1,::1"}});
  EXPECT_TRUE(admitted(*f, ipv4("127.0.0.1")));
  EXPECT_TRUE(admitted(*f, ipv6("::1")));
  EXPECT_FALSE(admitted(*f, ipv4("127.0.0.2")));
  EXPECT_FALSE(admitted(*f, ipv6("::2")));
  EXPECT_FALSE(admitted(*f, unix_peer(1, 2, 3)));
}

TEST(IpFilter, OnlyAllowGivenAdmitsEveryone) {
  // Upstream's rule 3: no deny match means permission, so allow= alone restricts nothing.
  auto f = make({{"allow", "10.0.0.1"}});
  EXPECT_TRUE(admitted(*f, ipv4("10.0.0.1")));
  EXPECT_TRUE(admitted(*f, ipv4("192.168.1.1")));
}

TEST(IpFilter, OnlyDenyGivenRefusesJustThose) {
  auto f = make({{"deny", "8.0.0.0/8"}, {"deny", "2001:db8::/32"}});
  EXPECT_FALSE(admitted(*f, ipv4("8.1.2.3")));
  EXPECT_TRUE(admitted(*f, ipv4("9.1.2.3")));
  EXPECT_FALSE(admitted(*f, ipv6("2001:db8:1::5")));
  EXPECT_TRUE(admitted(*f, ipv6("2001:db9::5")));
  auto r = f->preconnect(ipv4("8.0.0.1"), false);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().errnum, EPERM);
  EXPECT_NE(r.error().message.find("8.0.0.1"), std::string::npos);
}

TEST(IpFilter, PrefixBoundaries) {
  auto f = make({{"allow", "192.168.2.128/25,fe80::/10,0.0.0.0/0"}, {"deny", "all"}});
  EXPECT_TRUE(admitted(*f, ipv4("1.2.3.4")));  // /0 matches every IPv4 address
  EXPECT_TRUE(admitted(*f, ipv6("febf::1")));
  EXPECT_FALSE(admitted(*f, ipv6("fec0::1")));
  auto g = make({{"allow", "192.168.2.128/25"}, {"deny", "anyipv4"}});
  EXPECT_TRUE(admitted(*g, ipv4("192.168.2.200")));
  EXPECT_FALSE(admitted(*g, ipv4("192.168.2.127")));
  EXPECT_TRUE(admitted(*g, ipv6("::1")));  // anyipv4 does not cover IPv6
}

TEST(IpFilter, KeywordsByFamilyAnyCase) {
  auto f = make({{"allow", "ANYIPV6,allunix"}, {"deny", "Any"}});
  EXPECT_TRUE(admitted(*f, ipv6("2001:db8::1")));
  EXPECT_TRUE(admitted(*f, unix_peer(1, 1, 1)));
  EXPECT_FALSE(admitted(*f, ipv4("127.0.0.1")));
  EXPECT_FALSE(admitted(*f, vsock(3, 10809)));
  auto g = make({{"allow", "anyvsock"}, {"deny", "all"}});
  EXPECT_TRUE(admitted(*g, vsock(3, 10809)));
  EXPECT_FALSE(admitted(*g, unix_peer(1, 1, 1)));
}

TEST(IpFilter, UnixCredentialsAndVsock) {
  auto f = make({{"allow", "uid:1000,gid:50,pid:42"}, {"deny", "all"}});
  EXPECT_TRUE(admitted(*f, unix_peer(1, 1000, 1)));
  EXPECT_TRUE(admitted(*f, unix_peer(1, 1, 50)));
  EXPECT_TRUE(admitted(*f, unix_peer(42, 1, 1)));
  EXPECT_FALSE(admitted(*f, unix_peer(1, 1, 1)));
  EXPECT_FALSE(admitted(*f, unix_peer(-1, -1, -1)));  // credentials unknown
  auto g = make({{"deny", "uid:0"}});
  EXPECT_FALSE(admitted(*g, unix_peer(7, 0, 0)));
  EXPECT_TRUE(admitted(*g, ipv4("127.0.0.1")));  // uid: never matches TCP
  auto v = make({{"allow", "vsock-cid:2,vsock-port:99"}, {"deny", "allvsock"}});
  EXPECT_TRUE(admitted(*v, vsock(2, 1)));
  EXPECT_TRUE(admitted(*v, vsock(5, 99)));
  EXPECT_FALSE(admitted(*v, vsock(5, 98)));
}

TEST(IpFilter, PipeFailsClosedWhenThereAreRules) {
  EXPECT_FALSE(admitted(*make({{"deny", "1.2.3.4"}}), Peer{}));
}

TEST(IpFilter, DnAllowIsDecidedAtOpenAgainstTheTlsIdentity) {
  auto f = make({{"allow", "dn:CN=client.example.com,O=BigCo"}, {"deny", "all"}});
  // Not known before the handshake: the client gets as far as open.
  EXPECT_TRUE(admitted(*f, ipv4("10.1.1.1")));
  FakeDisk disk(16);
  OpenParams good{.is_tls = true, .peer = ipv4("10.1.1.1"), .tls_identity = "CN=client.example.com,O=BigCo"};
  EXPECT_TRUE(open_over(*f, disk, good));
  OpenParams other = good;
  other.tls_identity = "CN=other,O=BigCo";
  auto r = open_over(*f, disk, other);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().errnum, EPERM);
  OpenParams plain = good;  // a non-TLS client never matches a dn: rule
  plain.is_tls = false;
  EXPECT_FALSE(open_over(*f, disk, plain));
  OpenParams prefix = good;  // exact match, not a prefix
  prefix.tls_identity = "CN=client.example.com,O=BigCo,C=US";
  EXPECT_FALSE(open_over(*f, disk, prefix));
  EXPECT_EQ(disk.opens(), 1);
}

TEST(IpFilter, AddressRulesStillDecideBeforeTheHandshake) {
  auto f = make({{"allow", "127.0.0.1,dn:CN=a"}, {"deny", "anyipv4"}});
  EXPECT_TRUE(admitted(*f, ipv6("::1")));  // no deny rule can match: admitted at once
  EXPECT_TRUE(admitted(*f, ipv4("127.0.0.1")));
  EXPECT_TRUE(admitted(*f, ipv4("10.0.0.1")));  // might still be CN=a
  FakeDisk disk(16);
  EXPECT_TRUE(open_over(*f, disk, {.peer = ipv4("127.0.0.1")}));
  EXPECT_FALSE(open_over(*f, disk, {.peer = ipv4("10.0.0.1")}));
  EXPECT_TRUE(open_over(*f, disk, {.is_tls = true, .peer = ipv4("10.0.0.1"), .tls_identity = "CN=a"}));
  auto d = make({{"deny", "127.0.0.9,dn:CN=bad,O=x"}});
  EXPECT_FALSE(admitted(*d, ipv4("127.0.0.9")));
  EXPECT_TRUE(admitted(*d, ipv4("127.0.0.8")));
  EXPECT_FALSE(
      open_over(*d, disk, {.is_tls = true, .peer = ipv4("127.0.0.8"), .tls_identity = "CN=bad,O=x"}));
  EXPECT_TRUE(open_over(*d, disk, {.is_tls = true, .peer = ipv4("127.0.0.8"), .tls_identity = "CN=bad"}));
}

TEST(IpFilter, BadEntriesNameTheParameter) {
  for (const char* bad : {"300.1.1.1", "10.0.0.0/33", "::1/129", "uid:abc", "uid:-1", "bogus", "1.2.3.4/",
                          "a,,b", "dn:", ",1.2.3.4", "pid:"}) {
    auto f = ip_filter_info.factory();
    auto r = f->config("allow", bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().message.rfind("allow=", 0), 0u) << r.error().message;
  }
  auto f = ip_filter_info.factory();
  EXPECT_FALSE(*f->config("size", "1"));
  EXPECT_TRUE(*f->config("deny", "10.0.0.0/8,::1/128,0.0.0.0/0"));
}

}  // namespace
}  // namespace nbd::filters
