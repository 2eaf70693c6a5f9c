// SPDX-License-Identifier: BSD-3-Clause
// ServerTls and TlsSession over gnutls: see tls.h.
#include "server/tls.h"

#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "common/gnutls_lib.h"
#include "nbd/log.h"
#include "nbd/plugin.h"

namespace nbd::server {
namespace {

using tls::Gnutls;

DebugFlag g_tls_log{"nbdkit", "tls.log", 0};          // -D nbdkit.tls.log=N: gnutls's own log level
DebugFlag g_tls_session{"nbdkit", "tls.session", 0};  // -D nbdkit.tls.session=1: each session's details

constexpr const char* kPriorityX509 = "NORMAL";
constexpr const char* kPriorityPsk = "NORMAL:+ECDHE-PSK:+DHE-PSK:+PSK";
constexpr uint64_t kDefaultHandshakeNs = 60'000'000'000;

bool is_file(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}
bool is_dir(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// Upstream's search path when --tls-certificates is not given.
std::vector<std::string> default_cert_dirs() {
  if (geteuid() == 0) return {"/etc/pki/nbdkit"};
  std::vector<std::string> v;
  if (const char* home = getenv("HOME"); home && *home) {
    v.push_back(std::string(home) + "/.pki/nbdkit");
    v.push_back(std::string(home) + "/.config/pki/nbdkit");
  }
  return v;
}

class GnutlsSession final : public TlsSession {
 public:
  GnutlsSession(const Gnutls& g, gnutls_session_t s, std::string identity)
      : g_(g), s_(s), identity_(std::move(identity)) {}
  ~GnutlsSession() override { g_.gnutls_deinit(s_); }

  ssize_t recv(void* buf, size_t n) override {
    for (;;) {
      ssize_t r = g_.gnutls_record_recv(s_, buf, n);
      if (r >= 0) return r;
      if (r == GNUTLS_E_INTERRUPTED || r == GNUTLS_E_AGAIN) continue;
      if (r == GNUTLS_E_PREMATURE_TERMINATION) return 0;  // the client went without close_notify
      log::debug("gnutls_record_recv: %s", g_.gnutls_strerror(int(r)));
      errno = r == GNUTLS_E_PULL_ERROR || r == GNUTLS_E_PUSH_ERROR ? ECONNRESET : EIO;
      return -1;
    }
  }

  Status send(const iovec* iov, int n) override {
    g_.gnutls_record_cork(s_);
    for (int i = 0; i < n; ++i) {
      size_t off = 0;
      while (off < iov[i].iov_len) {
        ssize_t r =
            g_.gnutls_record_send(s_, static_cast<const char*>(iov[i].iov_base) + off, iov[i].iov_len - off);
        if (r == GNUTLS_E_INTERRUPTED || r == GNUTLS_E_AGAIN) continue;
        if (r < 0) {
          (void)g_.gnutls_record_uncork(s_, 0);
          return make_error(EIO, std::string("TLS write: ") + g_.gnutls_strerror(int(r)));
        }
        off += size_t(r);
      }
    }
    for (;;) {
      int r = g_.gnutls_record_uncork(s_, GNUTLS_RECORD_WAIT);
      if (r >= 0) return ok();
      if (r == GNUTLS_E_INTERRUPTED || r == GNUTLS_E_AGAIN) continue;
      return make_error(EIO, std::string("TLS write: ") + g_.gnutls_strerror(r));
    }
  }

  bool pending() const override { return g_.gnutls_record_check_pending(s_) > 0; }
  void bye() override { (void)g_.gnutls_bye(s_, GNUTLS_SHUT_WR); }
  const std::string& identity() const override { return identity_; }

 private:
  const Gnutls& g_;
  gnutls_session_t s_;
  std::string identity_;
};

class GnutlsServer final : public ServerTls {
 public:
  GnutlsServer(const Gnutls& g, int level, bool verify_peer) : g_(g), level_(level), verify_(verify_peer) {}
  ~GnutlsServer() override {
    if (cert_) g_.gnutls_certificate_free_credentials(cert_);
    if (psk_) g_.gnutls_psk_free_server_credentials(psk_);
  }

  Status load_psk(const std::string& file) {
    if (!is_file(file)) return make_error(ENOENT, "--tls-psk=" + file + ": " + std::strerror(ENOENT));
    if (access(file.c_str(), R_OK) < 0)
      return make_error(errno, "--tls-psk=" + file + ": " + std::strerror(errno));
    if (int r = g_.gnutls_psk_allocate_server_credentials(&psk_); r < 0)
      return make_error(EIO, std::string("--tls-psk: ") + g_.gnutls_strerror(r));
    if (int r = g_.gnutls_psk_set_server_credentials_file(psk_, file.c_str()); r < 0)
      return make_error(EINVAL, "--tls-psk=" + file + ": " + g_.gnutls_strerror(r));
    return ok();
  }

  // Loads dir/{ca-cert,server-cert,server-key,ca-crl}.pem. `shown` names the option in errors.
  Status load_x509(const std::string& dir, const std::string& shown) {
    std::string ca = dir + "/ca-cert.pem", cert = dir + "/server-cert.pem", key = dir + "/server-key.pem",
                crl = dir + "/ca-crl.pem";
    for (const std::string& f : {cert, key})
      if (!is_file(f)) return make_error(ENOENT, shown + ": " + f + ": " + std::strerror(ENOENT));
    if (verify_ && !is_file(ca))
      return make_error(ENOENT,
                        shown + ": " + ca + " is needed by --tls-verify-peer: " + std::strerror(ENOENT));
    if (int r = g_.gnutls_certificate_allocate_credentials(&cert_); r < 0)
      return make_error(EIO, shown + ": " + g_.gnutls_strerror(r));
    if (is_file(ca)) {
      if (int r = g_.gnutls_certificate_set_x509_trust_file(cert_, ca.c_str(), GNUTLS_X509_FMT_PEM); r < 0)
        return make_error(EINVAL, shown + ": " + ca + ": " + g_.gnutls_strerror(r));
    }
    if (is_file(crl)) {
      if (int r = g_.gnutls_certificate_set_x509_crl_file(cert_, crl.c_str(), GNUTLS_X509_FMT_PEM); r < 0)
        return make_error(EINVAL, shown + ": " + crl + ": " + g_.gnutls_strerror(r));
    }
    if (int r =
            g_.gnutls_certificate_set_x509_key_file(cert_, cert.c_str(), key.c_str(), GNUTLS_X509_FMT_PEM);
        r < 0)
      return make_error(EINVAL, shown + ": " + cert + ": " + g_.gnutls_strerror(r));
    log::debug("TLS: loaded certificates from %s", dir.c_str());
    return ok();
  }

  Result<std::unique_ptr<TlsSession>> accept(int in_fd, int out_fd, uint64_t timeout_ns) override {
    gnutls_session_t s = nullptr;
    if (int r = g_.gnutls_init(&s, GNUTLS_SERVER); r < 0) return fail(nullptr, "gnutls_init", r);
    if (int r = g_.gnutls_priority_set_direct(s, psk_ ? kPriorityPsk : kPriorityX509, nullptr); r < 0)
      return fail(s, "gnutls_priority_set_direct", r);
    if (psk_) {
      if (int r = g_.gnutls_credentials_set(s, GNUTLS_CRD_PSK, psk_); r < 0)
        return fail(s, "gnutls_credentials_set", r);
    } else {
      if (int r = g_.gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, cert_); r < 0)
        return fail(s, "gnutls_credentials_set", r);
      if (verify_) {
        g_.gnutls_certificate_server_set_request(s, GNUTLS_CERT_REQUIRE);
        g_.gnutls_session_set_verify_cert(s, nullptr, 0);
      }
    }
    g_.gnutls_transport_set_int2(s, in_fd, out_fd);
    uint64_t ns = timeout_ns ? timeout_ns : kDefaultHandshakeNs;
    g_.gnutls_handshake_set_timeout(s, unsigned(std::max<uint64_t>(1, ns / 1'000'000)));
    for (;;) {
      int r = g_.gnutls_handshake(s);
      if (r == 0) break;
      if (r == GNUTLS_E_INTERRUPTED || r == GNUTLS_E_AGAIN) continue;
      if (!g_.gnutls_error_is_fatal(r)) {
        log::debug("gnutls_handshake: %s (continuing)", g_.gnutls_strerror(r));
        continue;
      }
      return fail(s, "TLS handshake", r);
    }
    std::string id = identity(s);
    if (g_tls_session) {
      char* desc = g_.gnutls_session_get_desc(s);
      log::debug("TLS session: %s%s%s", desc ? desc : "?", id.empty() ? "" : ", peer: ", id.c_str());
      g_.release(desc);
    }
    return std::unique_ptr<TlsSession>(std::make_unique<GnutlsSession>(g_, s, std::move(id)));
  }

  int level() const override { return level_; }

 private:
  Error fail(gnutls_session_t s, const char* what, int r) {
    if (s) g_.gnutls_deinit(s);
    return make_error(r == GNUTLS_E_TIMEDOUT ? ETIMEDOUT : EPROTO,
                      std::string(what) + ": " + g_.gnutls_strerror(r));
  }

  // The PSK username, or the subject DN of the client's certificate.
  std::string identity(gnutls_session_t s) {
    if (psk_) {
      const char* u = g_.gnutls_psk_server_get_username(s);
      return u ? u : "";
    }
    unsigned n = 0;
    const gnutls_datum_t* certs = g_.gnutls_certificate_get_peers(s, &n);
    if (!certs || n == 0) return "";
    gnutls_x509_crt_t crt;
    if (g_.gnutls_x509_crt_init(&crt) < 0) return "";
    std::string dn;
    if (g_.gnutls_x509_crt_import(crt, &certs[0], GNUTLS_X509_FMT_DER) == 0) {
      char buf[1024];
      size_t size = sizeof buf;
      if (g_.gnutls_x509_crt_get_dn(crt, buf, &size) == 0) dn.assign(buf, strnlen(buf, sizeof buf));
    }
    g_.gnutls_x509_crt_deinit(crt);
    return dn;
  }

  const Gnutls& g_;
  int level_;
  bool verify_;
  gnutls_certificate_credentials_t cert_ = nullptr;
  gnutls_psk_server_credentials_t psk_ = nullptr;
};

void gnutls_log(int level, const char* msg) {
  std::string m(msg);
  while (!m.empty() && m.back() == '\n') m.pop_back();
  log::debug("gnutls: %d: %s", level, m.c_str());
}

}  // namespace

Result<std::unique_ptr<ServerTls>> ServerTls::create(const Options& o) {
  if (o.tls == TlsMode::Off) return std::unique_ptr<ServerTls>();
  bool asked = o.tls == TlsMode::On || o.tls == TlsMode::Require;
  int level = o.tls == TlsMode::Require ? 2 : 1;
  auto g = tls::load_gnutls();
  if (!g) {
    if (o.tls == TlsMode::Require) return make_error(ENOTSUP, "--tls=require: " + g.error().message);
    if (asked) log::warning("--tls=on: %s; TLS is disabled", g.error().message.c_str());
    return std::unique_ptr<ServerTls>();
  }
  if (g_tls_log.value() > 0) {
    (*g)->gnutls_global_set_log_function(gnutls_log);
    (*g)->gnutls_global_set_log_level(g_tls_log.value());
  }
  auto server = std::make_unique<GnutlsServer>(**g, level, o.tls_verify_peer);
  Status s = ok();
  if (!o.tls_psk.empty()) {
    // A PSK file replaces certificates, and turns TLS on by itself, as upstream.
    s = server->load_psk(o.tls_psk);
    if (!s) return std::move(s).error();  // the user named the file: a bad one is an error
    return std::unique_ptr<ServerTls>(std::move(server));
  }
  if (!o.tls_certificates.empty()) {
    s = is_dir(o.tls_certificates)
            ? server->load_x509(o.tls_certificates, "--tls-certificates=" + o.tls_certificates)
            : make_error(ENOENT, "--tls-certificates=" + o.tls_certificates + ": not a directory");
  } else {
    s = make_error(ENOENT, "--tls: no TLS certificates found in the default directories");
    for (const std::string& dir : default_cert_dirs()) {
      if (!is_dir(dir)) continue;
      s = server->load_x509(dir, "--tls: " + dir);
      break;
    }
  }
  if (s) return std::unique_ptr<ServerTls>(std::move(server));
  if (o.tls == TlsMode::Require) return std::move(s).error();
  if (asked)
    log::warning("%s; TLS is disabled", s.error().message.c_str());
  else
    log::debug("%s; TLS is disabled", s.error().message.c_str());
  return std::unique_ptr<ServerTls>();
}

}  // namespace nbd::server
