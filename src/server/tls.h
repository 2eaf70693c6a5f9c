// SPDX-License-Identifier: BSD-3-Clause
// TLS in the server (gnutls, loaded on first use): the credentials, loaded once at start from
// --tls-certificates (or upstream's default directories) or --tls-psk, and one TlsSession per
// client that sent NBD_OPT_STARTTLS.
#pragma once

#include <sys/types.h>
#include <sys/uio.h>

#include <memory>
#include <string>

#include "nbd/result.h"
#include "server/options.h"

namespace nbd::server {

// A client's TLS session after a completed handshake. recv runs on the connection's reader
// thread, send on its writers (one at a time): gnutls allows one of each at once.
class TlsSession {
 public:
  virtual ~TlsSession() = default;
  // > 0 bytes, 0 at the end of the stream, -1 with errno set.
  virtual ssize_t recv(void* buf, size_t n) = 0;
  // Sends every byte of the iovecs, coalesced into as few records as they fill.
  virtual Status send(const iovec* iov, int n) = 0;
  // Decrypted bytes waiting in gnutls (a poll on the socket would not see them).
  virtual bool pending() const = 0;
  // Best-effort close_notify.
  virtual void bye() = 0;
  // The PSK username, or the DN of the client's certificate; empty when there is none.
  virtual const std::string& identity() const = 0;
};

class ServerTls {
 public:
  virtual ~ServerTls() = default;
  // For --tls=on/require (and TLS by default when certificates are found, as upstream):
  // nullptr when TLS stays off. Errors are one line naming the option.
  static Result<std::unique_ptr<ServerTls>> create(const Options& o);
  // Runs the server side of the TLS handshake on the client's socket (blocking, bounded by
  // timeout_ns, or 60 s when 0). Errors carry the reason, to log.
  virtual Result<std::unique_ptr<TlsSession>> accept(int in_fd, int out_fd, uint64_t timeout_ns) = 0;
  // 1 = on (plaintext allowed), 2 = require: upstream's $tls.
  virtual int level() const = 0;
};

}  // namespace nbd::server
