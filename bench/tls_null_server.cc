// SPDX-License-Identifier: BSD-3-Clause
// bench_tls_null_server SOCKET CERTDIR SIZE: the ceiling of bench/run's TLS rows. An NBD server
// that does no work: one connection at a time on a Unix socket, fixed newstyle, STARTTLS with
// CERTDIR/server-cert.pem and server-key.pem (gnutls NORMAL, as our server), then
// NBD_OPT_STRUCTURED_REPLY, NBD_OPT_SET_META_CONTEXT (base:allocation) and NBD_OPT_GO (every
// other option is unsupported); every NBD_CMD_BLOCK_STATUS answered "all data" and every
// NBD_CMD_READ from one constant buffer in one OFFSET_DATA chunk (a simple reply to a
// client that did not ask for structured replies), header and data corked into full records as
// our server sends them. What a client reads from it is the fastest it can read
// over TLS on this machine. Not a server for anything else: no writes, no checks beyond need.
#include <arpa/inet.h>
#include <endian.h>
#include <gnutls/gnutls.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "bench_tls_null_server: %s\n", what);
  std::exit(1);
}

bool read_plain(int fd, void* buf, size_t n) {
  auto* p = static_cast<char*>(buf);
  while (n) {
    ssize_t r = ::read(fd, p, n);
    if (r <= 0) return false;
    p += r;
    n -= size_t(r);
  }
  return true;
}
bool write_plain(int fd, const void* buf, size_t n) {
  auto* p = static_cast<const char*>(buf);
  while (n) {
    ssize_t r = ::write(fd, p, n);
    if (r <= 0) return false;
    p += r;
    n -= size_t(r);
  }
  return true;
}

struct Tls {
  gnutls_session_t s;
  bool read(void* buf, size_t n) {
    auto* p = static_cast<char*>(buf);
    while (n) {
      ssize_t r = gnutls_record_recv(s, p, n);
      if (r == GNUTLS_E_INTERRUPTED || r == GNUTLS_E_AGAIN) continue;
      if (r <= 0) return false;
      p += r;
      n -= size_t(r);
    }
    return true;
  }
  bool write(const void* buf, size_t n) {
    auto* p = static_cast<const char*>(buf);
    while (n) {
      ssize_t r = gnutls_record_send(s, p, n);
      if (r == GNUTLS_E_INTERRUPTED || r == GNUTLS_E_AGAIN) continue;
      if (r <= 0) return false;
      p += r;
      n -= size_t(r);
    }
    return true;
  }
};

std::vector<char> option_reply(uint32_t opt, uint32_t type, const std::string& data = {}) {
  std::vector<char> v(20 + data.size());
  uint64_t magic = htobe64(0x3e889045565a9ULL);
  uint32_t o = htobe32(opt), t = htobe32(type), l = htobe32(uint32_t(data.size()));
  std::memcpy(&v[0], &magic, 8);
  std::memcpy(&v[8], &o, 4);
  std::memcpy(&v[12], &t, 4);
  std::memcpy(&v[16], &l, 4);
  std::memcpy(v.data() + 20, data.data(), data.size());
  return v;
}

constexpr uint32_t kRepAck = 1, kRepInfo = 3, kRepMetaContext = 4, kRepErrUnsup = 0x80000001;
constexpr uint32_t kOptStartTls = 5, kOptGo = 7, kOptAbort = 2, kOptStructuredReply = 8,
                   kOptSetMetaContext = 10;
constexpr char kBaseAllocation[] = "base:allocation";

// Reads options until NBD_OPT_GO; true when transmission should start.
template <class Read, class Write>
bool negotiate(Read rd, Write wr, bool& starttls, bool& structured, uint64_t size) {
  for (;;) {
    char h[16];
    if (!rd(h, 16)) return false;
    uint32_t opt, len;
    std::memcpy(&opt, h + 8, 4);
    std::memcpy(&len, h + 12, 4);
    opt = be32toh(opt);
    len = be32toh(len);
    if (len > 65536) return false;
    std::vector<char> data(len);
    if (len && !rd(data.data(), len)) return false;
    if (opt == kOptAbort) return false;
    if (opt == kOptStartTls && !starttls) {
      auto r = option_reply(opt, kRepAck);
      if (!wr(r.data(), r.size())) return false;
      starttls = true;
      return true;  // the caller does the TLS handshake and calls again
    }
    if (opt == kOptStructuredReply && starttls) {
      auto r = option_reply(opt, kRepAck);
      if (!wr(r.data(), r.size())) return false;
      structured = true;
      continue;
    }
    if (opt == kOptSetMetaContext && structured) {
      // Context 1 for base:allocation if asked; the rest unknown (no reply of theirs).
      bool asked = false;
      size_t p = 0;
      auto u32 = [&](uint32_t& v) {
        if (p + 4 > data.size()) return false;
        std::memcpy(&v, &data[p], 4);
        v = be32toh(v);
        p += 4;
        return true;
      };
      uint32_t n, count;
      if (!u32(n) || (p += n) > data.size() || !u32(count)) return false;
      for (uint32_t i = 0; i < count; ++i) {
        if (!u32(n) || p + n > data.size()) return false;
        asked |= std::string(&data[p], n) == kBaseAllocation;
        p += n;
      }
      if (asked) {
        std::string ctx(4, '\0');
        ctx[3] = 1;
        ctx += kBaseAllocation;
        auto r = option_reply(opt, kRepMetaContext, ctx);
        if (!wr(r.data(), r.size())) return false;
      }
      auto r = option_reply(opt, kRepAck);
      if (!wr(r.data(), r.size())) return false;
      continue;
    }
    if (opt == kOptGo) {
      std::string info(12, '\0');
      uint64_t sz = htobe64(size);
      uint16_t flags = htons(1 | 2);  // HAS_FLAGS | READ_ONLY
      std::memcpy(&info[2], &sz, 8);
      std::memcpy(&info[10], &flags, 2);
      auto a = option_reply(opt, kRepInfo, info), b = option_reply(opt, kRepAck);
      if (!wr(a.data(), a.size()) || !wr(b.data(), b.size())) return false;
      starttls = false;
      return true;
    }
    auto r = option_reply(opt, kRepErrUnsup);
    if (!wr(r.data(), r.size())) return false;
  }
}

void serve(int fd, gnutls_certificate_credentials_t cred, uint64_t size, const std::vector<char>& data) {
  const char greet[18] = {'N', 'B', 'D', 'M', 'A', 'G', 'I', 'C', 'I',
                          'H', 'A', 'V', 'E', 'O', 'P', 'T', 0,   3};
  uint32_t cflags;
  if (!write_plain(fd, greet, sizeof greet) || !read_plain(fd, &cflags, 4)) return;
  bool tls = false, structured = false;
  if (!negotiate([&](void* b, size_t n) { return read_plain(fd, b, n); },
                 [&](const void* b, size_t n) { return write_plain(fd, b, n); }, tls, structured, size) ||
      !tls)
    return;  // this server speaks only TLS
  Tls t{};
  gnutls_init(&t.s, GNUTLS_SERVER);
  gnutls_priority_set_direct(t.s, "NORMAL", nullptr);
  gnutls_credentials_set(t.s, GNUTLS_CRD_CERTIFICATE, cred);
  gnutls_transport_set_int(t.s, fd);
  int r;
  do r = gnutls_handshake(t.s);
  while (r < 0 && !gnutls_error_is_fatal(r));
  if (r < 0) {
    gnutls_deinit(t.s);
    return;
  }
  if (negotiate([&](void* b, size_t n) { return t.read(b, n); },
                [&](const void* b, size_t n) { return t.write(b, n); }, tls, structured, size)) {
    for (;;) {
      char req[28];
      if (!t.read(req, 28)) break;
      uint16_t type;
      uint32_t len;
      std::memcpy(&type, req + 6, 2);
      std::memcpy(&len, req + 24, 4);
      type = be16toh(type);
      len = be32toh(len);
      if (type == 7 && structured) {  // NBD_CMD_BLOCK_STATUS: one extent, all data
        char rep[32] = {0x66, static_cast<char>(0x8e), 0x33, static_cast<char>(0xef), 0, 1, 0, 5};
        std::memcpy(rep + 8, req + 8, 8);
        uint32_t l = htobe32(12), id = htobe32(1), ext = htobe32(len);
        std::memcpy(rep + 16, &l, 4);
        std::memcpy(rep + 20, &id, 4);
        std::memcpy(rep + 24, &ext, 4);
        if (!t.write(rep, 32)) break;
        continue;
      }
      if (type != 0 || len > data.size()) break;  // NBD_CMD_DISC, or anything but a read
      // A simple reply, or one NBD_REPLY_TYPE_OFFSET_DATA chunk with NBD_REPLY_FLAG_DONE.
      char rep[28] = {0x67, 0x44, 0x66, static_cast<char>(0x98)};
      size_t n = 16;
      if (structured) {
        const char head[8] = {0x66, static_cast<char>(0x8e), 0x33, static_cast<char>(0xef), 0, 1, 0, 1};
        std::memcpy(rep, head, 8);
        uint32_t l = htobe32(len + 8);
        std::memcpy(rep + 16, &l, 4);
        std::memcpy(rep + 20, req + 16, 8);  // the offset, as the request had it
        n = 28;
      }
      std::memcpy(rep + 8, req + 8, 8);
      gnutls_record_cork(t.s);
      if (!t.write(rep, n) || !t.write(data.data(), len)) break;
      if (gnutls_record_uncork(t.s, GNUTLS_RECORD_WAIT) < 0) break;
    }
    gnutls_bye(t.s, GNUTLS_SHUT_WR);
  }
  gnutls_deinit(t.s);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) die("usage: bench_tls_null_server SOCKET CERTDIR SIZE");
  std::string dir = argv[2];
  uint64_t size = std::strtoull(argv[3], nullptr, 10);
  std::signal(SIGPIPE, SIG_IGN);  // a client that goes mid-reply ends its connection only
  gnutls_global_init();
  gnutls_certificate_credentials_t cred;
  gnutls_certificate_allocate_credentials(&cred);
  if (gnutls_certificate_set_x509_key_file(cred, (dir + "/server-cert.pem").c_str(),
                                           (dir + "/server-key.pem").c_str(), GNUTLS_X509_FMT_PEM) < 0)
    die("cannot load the certificate");
  std::vector<char> data(32 << 20, char(0xa5));

  int l = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  // Bound under a temporary name and renamed once listening: SOCKET appears ready.
  std::string tmp = std::string(argv[1]) + ".tmp";
  if (tmp.size() >= sizeof a.sun_path) die("socket path too long");
  std::strcpy(a.sun_path, tmp.c_str());
  unlink(tmp.c_str());
  if (bind(l, reinterpret_cast<sockaddr*>(&a), sizeof a) < 0 || listen(l, 16) < 0 ||
      rename(tmp.c_str(), argv[1]) < 0)
    die("cannot listen");
  for (;;) {
    int fd = accept(l, nullptr, nullptr);
    if (fd < 0) continue;
    serve(fd, cred, size, data);
    close(fd);
  }
}
