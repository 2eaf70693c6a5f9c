// SPDX-License-Identifier: BSD-3-Clause
// Table-driven tests of NBD URI parsing (doc/uri.md), with negative cases.
#include <gtest/gtest.h>

#include "client/impl.h"

namespace nbd::client {
namespace {

struct Good {
  const char* uri;
  bool tls;
  Uri::Transport transport;
  const char* host;
  const char* port;
  const char* socket;
  const char* export_name;
  const char* user;
};

const Good kGood[] = {
    {"nbd://example.com", false, Uri::Transport::Tcp, "example.com", "10809", "", "", ""},
    {"nbd://example.com/", false, Uri::Transport::Tcp, "example.com", "10809", "", "", ""},
    {"nbd://example.com/disk", false, Uri::Transport::Tcp, "example.com", "10809", "", "disk", ""},
    {"nbd://example.com//disk", false, Uri::Transport::Tcp, "example.com", "10809", "", "/disk", ""},
    {"nbd://example.com/hello%20world", false, Uri::Transport::Tcp, "example.com", "10809", "", "hello world",
     ""},
    {"nbd://localhost:1234/a/b", false, Uri::Transport::Tcp, "localhost", "1234", "", "a/b", ""},
    {"nbds://alice@127.0.0.1:10810/x", true, Uri::Transport::Tcp, "127.0.0.1", "10810", "", "x", "alice"},
    {"nbd://[::1]:5000/e", false, Uri::Transport::Tcp, "::1", "5000", "", "e", ""},
    {"nbd://[fe80::1]/", false, Uri::Transport::Tcp, "fe80::1", "10809", "", "", ""},
    {"NBD://host", false, Uri::Transport::Tcp, "host", "10809", "", "", ""},
    {"nbd://", false, Uri::Transport::Tcp, "localhost", "10809", "", "", ""},
    {"nbd+unix:///?socket=/tmp/s", false, Uri::Transport::Unix, "", "10809", "/tmp/s", "", ""},
    {"nbd+unix:///disk?socket=/tmp/s", false, Uri::Transport::Unix, "", "10809", "/tmp/s", "disk", ""},
    {"nbds+unix:///x?socket=%2Ftmp%2Fa%20b", true, Uri::Transport::Unix, "", "10809", "/tmp/a b", "x", ""},
    {"nbd+unix:///x%3Fy?socket=/s#frag", false, Uri::Transport::Unix, "", "10809", "/s", "x?y", ""},
    {"nbd+vsock://2:10809/e", false, Uri::Transport::Vsock, "2", "10809", "", "e", ""},
    {"nbds+vsock://3", true, Uri::Transport::Vsock, "3", "10809", "", "", ""},
};

TEST(UriTest, ParsesValidUris) {
  for (const auto& g : kGood) {
    SCOPED_TRACE(g.uri);
    auto u = parse_uri(g.uri);
    ASSERT_TRUE(u) << u.error().message;
    EXPECT_EQ(u->tls, g.tls);
    EXPECT_EQ(u->transport, g.transport);
    if (g.transport != Uri::Transport::Unix) {
      EXPECT_EQ(u->host, g.host);
    }
    EXPECT_EQ(u->port, g.port);
    EXPECT_EQ(u->socket, g.socket);
    EXPECT_EQ(u->export_name, g.export_name);
    EXPECT_EQ(u->user, g.user);
    EXPECT_TRUE(is_uri(g.uri));
  }
}

TEST(UriTest, ReadsTlsQueryParameters) {
  auto u = parse_uri(
      "nbds://bob@h/e?tls-certificates=/etc/pki&tls-psk-file=/k.psk&tls-verify-peer=false"
      "&tls-hostname=srv&tls-username=carol&tls-type=psk&x-extra=1");
  ASSERT_TRUE(u) << u.error().message;
  EXPECT_EQ(u->tls_certificates, "/etc/pki");
  EXPECT_EQ(u->tls_psk_file, "/k.psk");
  EXPECT_EQ(u->tls_verify_peer, 0);
  EXPECT_EQ(u->tls_hostname, "srv");
  EXPECT_EQ(u->tls_username, "carol");
  EXPECT_EQ(u->user, "bob");
}

TEST(UriTest, AbstractSocketMayStartWithNul) {
  auto u = parse_uri("nbd+unix:///?socket=%00/abstract");
  ASSERT_TRUE(u) << u.error().message;
  EXPECT_EQ(u->socket, std::string("\0/abstract", 10));
}

struct Bad {
  const char* uri;
  const char* why;  // part of the message
};

const Bad kBad[] = {
    {"notauri", "missing scheme"},
    {"http://example.com/", "unknown scheme"},
    {"nbd+unix:///disk", "socket="},
    {"nbd://host/?socket=/x", "only for nbd+unix"},
    {"nbd://host:99999/", "out of range"},
    {"nbd://host:12ab/", "port must be a number"},
    {"nbd://[::1/", "IPv6"},
    {"nbd://[::1]x/", "IPv6"},
    {"nbd://host/a%2", "percent"},
    {"nbd://host/a%zz", "percent"},
    {"nbd://host/a%00b", "%00"},
    {"nbd://host/a b", "invalid character"},
    {"nbd://host/?tls-verify-peer=maybe", "boolean"},
    {"nbd://host/?bogus=1", "unknown query parameter 'bogus'"},
    {"nbd+vsock://abc/", "CID"},
    {"nbd+vsock:///", "CID"},
};

TEST(UriTest, RejectsInvalidUris) {
  for (const auto& b : kBad) {
    SCOPED_TRACE(b.uri);
    auto u = parse_uri(b.uri);
    ASSERT_FALSE(u);
    EXPECT_EQ(u.error().errnum, EINVAL);
    EXPECT_NE(u.error().message.find(b.why), std::string::npos) << u.error().message;
  }
  EXPECT_FALSE(is_uri("/dev/sda"));
  EXPECT_FALSE(is_uri("http://x"));
}

TEST(UriTest, EncodesExportNamesLikeLibnbd) {
  EXPECT_EQ(uri_encode_path("a b/c"), "a%20b/c");
  EXPECT_EQ(uri_encode_path("x?y"), "x%3Fy");
  EXPECT_EQ(uri_encode_path(""), "");
  EXPECT_EQ(uri_encode_path("ok-._~"), "ok-._~");
}

TEST(UriTest, ConnectUriRefusesLocalFilesUnlessAllowed) {
  Handle h;
  auto st = h.connect_uri("nbds+unix:///?socket=/nonexistent&tls-psk-file=/k");
  ASSERT_FALSE(st);
  EXPECT_EQ(h.get_errno(), EPERM);
  EXPECT_NE(h.get_error().find("nbd_connect_uri"), std::string::npos);
}

}  // namespace
}  // namespace nbd::client
