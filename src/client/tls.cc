// SPDX-License-Identifier: BSD-3-Clause
// TLS after NBD_OPT_STARTTLS, with gnutls loaded by dlopen on first use (common/gnutls_lib.h).
// X.509 (tls-certificates dir) or PSK (tls-psk-file + username), optional peer verification.
#include <gnutls/gnutls.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>

#include "client/impl.h"
#include "common/gnutls_lib.h"

namespace nbd::client {

namespace {

using tls::Gnutls;
using tls::load_gnutls;

bool exists(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0;
}

// Finds "username:hexkey" in a PSK file.
Result<std::string> read_psk(const std::string& file, const std::string& user) {
  std::ifstream in(file);
  if (!in) return make_error(errno ? errno : ENOENT, "tls-psk-file: cannot open " + file);
  std::string line;
  while (std::getline(in, line)) {
    auto colon = line.find(':');
    if (colon != std::string::npos && line.substr(0, colon) == user) return line.substr(colon + 1);
  }
  return make_error(ENOENT, "tls-psk-file: no key for user '" + user + "' in " + file);
}

class GnutlsTransport : public TlsTransport {
 public:
  GnutlsTransport(const Gnutls& g) : g_(g) {}
  ~GnutlsTransport() override {
    if (session_) g_.gnutls_deinit(session_);
    if (cert_) g_.gnutls_certificate_free_credentials(cert_);
    if (psk_) g_.gnutls_psk_free_client_credentials(psk_);
  }

  Status init(int fd, const TlsConfig& cfg) {
    if (int r = g_.gnutls_init(&session_, GNUTLS_CLIENT | GNUTLS_NONBLOCK); r < 0)
      return err("gnutls_init", r);
    if (!cfg.psk_file.empty())
      NBD_TRY(init_psk(cfg));
    else
      NBD_TRY(init_x509(cfg));
    g_.gnutls_transport_set_int2(session_, fd, fd);
    // Our own push: a server that went away must be an error, never a SIGPIPE.
    g_.gnutls_transport_set_ptr(session_, reinterpret_cast<gnutls_transport_ptr_t>(intptr_t(fd)));
    g_.gnutls_transport_set_push_function(session_, [](gnutls_transport_ptr_t p, const void* buf, size_t n) {
      return ::send(int(reinterpret_cast<intptr_t>(p)), buf, n, MSG_NOSIGNAL);
    });
    return ok();
  }

  Result<bool> handshake() override {
    for (;;) {
      int r = g_.gnutls_handshake(session_);
      if (r == 0) {
        handshaking_ = false;
        return true;
      }
      if (r == GNUTLS_E_INTERRUPTED) continue;
      if (r == GNUTLS_E_AGAIN) return false;
      return err("TLS handshake", r);
    }
  }

  ssize_t recv(void* buf, size_t n) override {
    for (;;) {
      ssize_t r = g_.gnutls_record_recv(session_, buf, n);
      if (r >= 0) return r;
      if (r == GNUTLS_E_INTERRUPTED) continue;
      if (r == GNUTLS_E_AGAIN) {
        errno = EAGAIN;
        return -1;
      }
      if (r == GNUTLS_E_PREMATURE_TERMINATION) return 0;  // the peer closed without close_notify
      errno = EIO;
      return -1;
    }
  }

  ssize_t sendv(const iovec* iov, int n, bool) override {
    size_t total = 0;
    for (int i = 0; i < n; ++i) {
      size_t off = 0;
      while (off < iov[i].iov_len) {
        ssize_t r = g_.gnutls_record_send(session_, static_cast<const char*>(iov[i].iov_base) + off,
                                          iov[i].iov_len - off);
        if (r == GNUTLS_E_INTERRUPTED) continue;
        if (r == GNUTLS_E_AGAIN) {
          if (total > 0) return ssize_t(total);
          errno = EAGAIN;
          return -1;
        }
        if (r < 0) {
          if (total > 0) return ssize_t(total);
          errno = EIO;
          return -1;
        }
        off += size_t(r);
        total += size_t(r);
      }
    }
    return ssize_t(total);
  }

  bool pending() const override { return g_.gnutls_record_check_pending(session_) > 0; }
  unsigned blocked_direction() const override {
    if (!handshaking_) return 0;
    return g_.gnutls_record_get_direction(session_) ? kAioDirectionWrite : kAioDirectionRead;
  }
  void shutdown() override {
    if (!handshaking_) g_.gnutls_bye(session_, GNUTLS_SHUT_WR);  // non-blocking: best effort
  }
  bool is_tls() const override { return true; }

 private:
  Error err(const char* what, int r) {
    return make_error(EPROTO, std::string(what) + ": " + g_.gnutls_strerror(r));
  }

  Status init_psk(const TlsConfig& cfg) {
    std::string user = cfg.username.empty() ? default_tls_username() : cfg.username;
    NBD_TRY_ASSIGN(std::string key, read_psk(cfg.psk_file, user));
    if (int r = g_.gnutls_psk_allocate_client_credentials(&psk_); r < 0)
      return err("gnutls_psk_allocate_client_credentials", r);
    gnutls_datum_t k{reinterpret_cast<unsigned char*>(key.data()), unsigned(key.size())};
    if (int r = g_.gnutls_psk_set_client_credentials(psk_, user.c_str(), &k, GNUTLS_PSK_KEY_HEX); r < 0)
      return err("tls-psk-file", r);
    if (int r = g_.gnutls_priority_set_direct(session_, "NORMAL:+ECDHE-PSK:+DHE-PSK:+PSK", nullptr); r < 0)
      return err("gnutls_priority_set_direct", r);
    if (int r = g_.gnutls_credentials_set(session_, GNUTLS_CRD_PSK, psk_); r < 0)
      return err("gnutls_credentials_set", r);
    return ok();
  }

  Status init_x509(const TlsConfig& cfg) {
    if (int r = g_.gnutls_certificate_allocate_credentials(&cert_); r < 0)
      return err("gnutls_certificate_allocate_credentials", r);
    std::string dir = cfg.certificates;
    std::string ca = dir + "/ca-cert.pem", cc = dir + "/client-cert.pem", ck = dir + "/client-key.pem";
    if (!dir.empty() && exists(ca)) {
      if (int r = g_.gnutls_certificate_set_x509_trust_file(cert_, ca.c_str(), GNUTLS_X509_FMT_PEM); r < 0)
        return err(ca.c_str(), r);
    } else if (int r = g_.gnutls_certificate_set_x509_system_trust(cert_); r < 0) {
      return err("gnutls_certificate_set_x509_system_trust", r);
    }
    if (!dir.empty() && exists(cc) && exists(ck)) {
      if (int r = g_.gnutls_certificate_set_x509_key_file(cert_, cc.c_str(), ck.c_str(), GNUTLS_X509_FMT_PEM);
          r < 0)
        return err(cc.c_str(), r);
    }
    if (int r = g_.gnutls_priority_set_direct(session_, "NORMAL", nullptr); r < 0)
      return err("gnutls_priority_set_direct", r);
    if (int r = g_.gnutls_credentials_set(session_, GNUTLS_CRD_CERTIFICATE, cert_); r < 0)
      return err("gnutls_credentials_set", r);
    // gnutls keeps the host name pointer for the whole session: it must live in this object.
    hostname_ = cfg.hostname;
    if (!hostname_.empty())
      g_.gnutls_server_name_set(session_, GNUTLS_NAME_DNS, hostname_.data(), hostname_.size());
    if (cfg.verify_peer)
      g_.gnutls_session_set_verify_cert(session_, hostname_.empty() ? nullptr : hostname_.c_str(), 0);
    return ok();
  }

  const Gnutls& g_;
  gnutls_session_t session_ = nullptr;
  gnutls_certificate_credentials_t cert_ = nullptr;
  gnutls_psk_client_credentials_t psk_ = nullptr;
  bool handshaking_ = true;
  std::string hostname_;
};

}  // namespace

Result<std::unique_ptr<TlsTransport>> make_tls_transport(int fd, const TlsConfig& cfg) {
  NBD_TRY_ASSIGN(const Gnutls* g, load_gnutls());
  auto t = std::make_unique<GnutlsTransport>(*g);
  NBD_TRY(t->init(fd, cfg));
  return std::unique_ptr<TlsTransport>(std::move(t));
}

void Handle::Impl::start_tls() {
  TlsConfig cfg{tls_certificates, tls_psk_file, tls_username, tls_hostname, tls_verify_peer};
  if (cfg.hostname.empty() && where == Where::Tcp) cfg.hostname = where_host;
  auto t = make_tls_transport(fd, cfg);
  if (!t) return set_dead(t.error().errnum, "%s", t.error().message.c_str());
  tls_session = t->get();
  transport = std::move(*t);
  set_state(State::TlsHandshake);
  tls_step();
}

void Handle::Impl::tls_step() {
  auto r = tls_session->handshake();
  if (!r) return set_dead(r.error().errnum, "%s", r.error().message.c_str());
  if (!*r) return;
  tls_on = true;
  debugf("TLS handshake complete");
  if (goal == Goal::UserOpt) {
    opt_data<SwitchOption>().agreed = true;
    return option_done(ok());
  }
  continue_automatic(State::TlsHandshake);
}

}  // namespace nbd::client
