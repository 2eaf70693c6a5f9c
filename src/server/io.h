// SPDX-License-Identifier: BSD-3-Clause
// Buffered socket I/O for one client: reads many requests per recv() and sends replies with
// writev(). Separate input and output fds so -s can serve stdin/stdout.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <memory>
#include <span>
#include <vector>

#include "nbd/result.h"
#include "server/tls.h"

namespace nbd::server {

class Io {
 public:
  Io(int in_fd, int out_fd);
  ~Io();

  // From now on every byte goes through the TLS session (after NBD_OPT_STARTTLS). Bytes the
  // client sent before it are not allowed: the caller checks buffered() == 0 first.
  void start_tls(std::unique_ptr<TlsSession> tls);
  const TlsSession* tls() const { return tls_.get(); }

  // Reads exactly n bytes (from the buffer first). ECONNRESET-like Error on EOF.
  Status read_exact(std::byte* p, size_t n);
  // Reads and throws away n bytes.
  Status discard(uint64_t n);
  // Bytes already received and not yet consumed.
  size_t buffered() const { return end_ - pos_; }
  // Pointer to the next buffered bytes (valid until the next read); see buffered().
  const std::byte* peek() const { return rbuf_.data() + pos_; }
  void consume(size_t n) { pos_ += n; }
  // Makes at least n bytes available in the buffer (n <= capacity), reading as much as the
  // socket has. EOF before any byte: Error with errnum 0 ("clean close").
  Status fill(size_t n);

  // Writes every byte of every iovec (retrying partial writes).
  Status write_all(struct iovec* iov, int iovcnt);
  Status write_all(std::span<const std::byte> b);

  // Polls briefly before blocking in reads (the transmission phase; see spin_read).
  void enable_spinning() { spin_ = !tls_; }

  // Reads must complete within ns from now (0 = no deadline): the handshake's bound, so a
  // client that trickles one byte at a time cannot hold a connection past it either.
  void set_read_deadline_ns(uint64_t ns);
  // Time left before the deadline (at least 1 ns), or 0 when there is none.
  uint64_t deadline_left_ns() const;

  int in_fd() const { return in_fd_; }
  // Number of read(2) calls made so far (each one may have blocked).
  uint64_t read_calls() const { return read_calls_; }
  int out_fd() const { return out_fd_; }

 private:
  int in_fd_, out_fd_;
  std::vector<std::byte> rbuf_;
  size_t pos_ = 0, end_ = 0;
  int64_t deadline_ns_ = 0;  // CLOCK_MONOTONIC; 0 = none
  uint64_t read_calls_ = 0;
  bool spin_ = false;
  unsigned backoff_ = 0, skip_ = 0;
  std::unique_ptr<TlsSession> tls_;

  ssize_t spin_read(std::byte* p, size_t n);
  // One read(2), or one TLS record read.
  ssize_t raw_read(std::byte* p, size_t n);
};

}  // namespace nbd::server
