// SPDX-License-Identifier: BSD-3-Clause
// How the client moves bytes: a plain socket, or a TLS session over it (tls.cc). Non-blocking:
// recv/sendv return -1 with errno EAGAIN when they would block.
#pragma once

#include <sys/types.h>
#include <sys/uio.h>

#include <memory>
#include <string>

#include "nbd/result.h"

namespace nbd::client {

class Transport {
 public:
  virtual ~Transport() = default;
  // > 0 bytes read, 0 at end of stream, -1 with errno set.
  virtual ssize_t recv(void* buf, size_t n) = 0;
  // Bytes written (maybe fewer than offered), or -1 with errno set. With zero_copy the
  // transport may hand large buffers to the kernel by reference (vmsplice), so their bytes must
  // stay unchanged until the peer has read them (for a write payload: until the command
  // completes). After a short count the caller offers the rest of the same bytes again.
  virtual ssize_t sendv(const iovec* iov, int n, bool zero_copy = false) = 0;
  // Reads up to n bytes and throws them away: as recv. This one copies into a scratch buffer.
  virtual ssize_t discard(size_t n);
  // Bytes already received and decrypted but not yet handed out (TLS only).
  virtual bool pending() const { return false; }
  // The direction a blocked TLS call waits for (1 read, 2 write), 0 = follow the caller.
  virtual unsigned blocked_direction() const { return 0; }
  // Best-effort orderly close of the session (TLS close_notify); never blocks long.
  virtual void shutdown() {}
  virtual bool is_tls() const { return false; }
};

std::unique_ptr<Transport> make_plain_transport(int fd);

// TLS settings collected from the handle.
struct TlsConfig {
  std::string certificates;  // directory with ca-cert.pem [client-cert.pem client-key.pem]
  std::string psk_file;      // "username:hexkey" lines
  std::string username;
  std::string hostname;  // for certificate name checks; empty = don't check the name
  bool verify_peer = true;
};

// A TLS session over fd, still handshaking. Loads gnutls on first use (dlopen), so programs
// that never use TLS never pay for its initialisation.
class TlsTransport : public Transport {
 public:
  // Returns true when the handshake is complete, false when it must be called again after
  // the socket is ready in blocked_direction(), or an error.
  virtual Result<bool> handshake() = 0;
};
Result<std::unique_ptr<TlsTransport>> make_tls_transport(int fd, const TlsConfig& cfg);

}  // namespace nbd::client
