// SPDX-License-Identifier: BSD-3-Clause
// Io: buffered reads and gathered writes for one client connection.
#include "server/io.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <thread>

namespace nbd::server {
namespace {
constexpr size_t kReadBuffer = 256 * 1024;

// Busy-polling (see Io::spin_read). A client keeping requests in flight sends the next one
// within microseconds of our reply; polling that long instead of sleeping spares the client the
// cost of waking us on every send, which is what bounds a fast client's request rate.
constexpr uint64_t kSpinNs = 50'000;
constexpr unsigned kMaxBackoff = 64;  // blocking reads skipped spinning after a fruitless spin
std::atomic<unsigned> g_spinners{0};
const unsigned g_max_spinners = std::max(1u, std::thread::hardware_concurrency()) - 1;

uint64_t now_ns() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000 + uint64_t(ts.tv_nsec);
}

Error io_error(const char* what) {
  return make_error(errno, std::string(what) + ": " + std::strerror(errno));
}
}  // namespace

Io::Io(int in_fd, int out_fd) : in_fd_(in_fd), out_fd_(out_fd), rbuf_(kReadBuffer) {}

Io::~Io() {
  if (!tls_) return;
  // close_notify, best effort: a client that stopped reading must not hold us here.
  int fl = fcntl(out_fd_, F_GETFL);
  if (fl >= 0) fcntl(out_fd_, F_SETFL, fl | O_NONBLOCK);
  tls_->bye();
}

void Io::start_tls(std::unique_ptr<TlsSession> tls) {
  tls_ = std::move(tls);
  spin_ = false;  // records are read whole by gnutls: nothing to gain from polling the socket
}

ssize_t Io::raw_read(std::byte* p, size_t n) { return tls_ ? tls_->recv(p, n) : ::read(in_fd_, p, n); }

namespace {
int64_t monotonic_ns() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}
}  // namespace

void Io::set_read_deadline_ns(uint64_t ns) { deadline_ns_ = ns ? monotonic_ns() + int64_t(ns) : 0; }

uint64_t Io::deadline_left_ns() const {
  if (!deadline_ns_) return 0;
  return uint64_t(std::max<int64_t>(1, deadline_ns_ - monotonic_ns()));
}

Status Io::fill(size_t n) {
  NBD_ASSERT(n <= rbuf_.size());
  if (end_ - pos_ >= n) return ok();
  if (rbuf_.size() - pos_ < n) {  // compact to make room
    std::memmove(rbuf_.data(), rbuf_.data() + pos_, end_ - pos_);
    end_ -= pos_;
    pos_ = 0;
  }
  while (end_ - pos_ < n) {
    if (deadline_ns_ && !(tls_ && tls_->pending())) {
      struct pollfd p = {in_fd_, POLLIN, 0};
      uint64_t left = deadline_left_ns();
      int r = left <= 1 ? 0 : ::poll(&p, 1, int(std::max<uint64_t>(1, left / 1000000)));
      if (r == 0) return make_error(ETIMEDOUT, "client did not finish the handshake in time (--timeout)");
      if (r < 0 && errno != EINTR) return io_error("poll");
    }
    ssize_t r = spin_read(rbuf_.data() + end_, rbuf_.size() - end_);
    if (r < 0 && errno == EWOULDBLOCK) r = raw_read(rbuf_.data() + end_, rbuf_.size() - end_);
    ++read_calls_;
    if (r == 0) return make_error(end_ == pos_ ? 0 : ECONNRESET, "client closed the connection");
    if (r < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return io_error("read");
    }
    end_ += size_t(r);
  }
  return ok();
}

// Polls the socket without blocking for up to kSpinNs. Returns -1/EWOULDBLOCK when the caller
// should block instead. At most (cores - 1) readers spin at once so spinning never takes the
// last core from the client or the plugin, and a connection whose spin found nothing skips
// the next 1, 2, 4 ... kMaxBackoff chances, so idle and slow connections cost nothing.
ssize_t Io::spin_read(std::byte* p, size_t n) {
  errno = EWOULDBLOCK;
  if (!spin_ || deadline_ns_) return -1;
  if (skip_ > 0) {
    --skip_;
    return -1;
  }
  if (g_spinners.fetch_add(1, std::memory_order_relaxed) >= g_max_spinners) {
    g_spinners.fetch_sub(1, std::memory_order_relaxed);
    return -1;
  }
  ssize_t r;
  uint64_t start = 0;
  for (;;) {
    r = ::recv(in_fd_, p, n, MSG_DONTWAIT);
    if (r >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) break;
    uint64_t t = now_ns();
    if (start == 0) {
      start = t;
    } else if (t - start > kSpinNs) {
      backoff_ = std::min(kMaxBackoff, backoff_ ? backoff_ * 2 : 1);
      skip_ = backoff_;
      break;
    }
  }
  g_spinners.fetch_sub(1, std::memory_order_relaxed);
  if (r >= 0) backoff_ = 0;
  if (r < 0 && errno == ENOTSOCK) {  // -s on a pipe: no MSG_DONTWAIT
    spin_ = false;
    errno = EWOULDBLOCK;
  }
  return r;
}

Status Io::read_exact(std::byte* p, size_t n) {
  if (n == 0) return ok();
  size_t have = std::min(n, end_ - pos_);
  std::memcpy(p, rbuf_.data() + pos_, have);
  pos_ += have;
  p += have;
  n -= have;
  // Large remainders go straight into the caller's buffer (no double copy).
  if (n >= rbuf_.size() / 2) {
    while (n > 0) {
      ssize_t r = raw_read(p, n);
      ++read_calls_;
      if (r == 0) return make_error(ECONNRESET, "client closed the connection mid-request");
      if (r < 0) {
        if (errno == EINTR || errno == EAGAIN) continue;
        return io_error("read");
      }
      p += r;
      n -= size_t(r);
    }
    return ok();
  }
  if (n > 0) {
    Status s = fill(n);
    if (!s) return make_error(s.error().errnum ? s.error().errnum : ECONNRESET, s.error().message);
    std::memcpy(p, rbuf_.data() + pos_, n);
    pos_ += n;
  }
  return ok();
}

Status Io::discard(uint64_t n) {
  while (n > 0) {
    if (pos_ == end_) {
      Status s = fill(1);
      if (!s) return make_error(s.error().errnum ? s.error().errnum : ECONNRESET, s.error().message);
    }
    size_t k = size_t(std::min<uint64_t>(n, end_ - pos_));
    pos_ += k;
    n -= k;
  }
  return ok();
}

Status Io::write_all(struct iovec* iov, int iovcnt) {
  if (tls_) return tls_->send(iov, iovcnt);
  while (iovcnt > 0) {
    ssize_t r = ::writev(out_fd_, iov, std::min(iovcnt, IOV_MAX));
    if (r < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return io_error("write");
    }
    size_t left = size_t(r);
    while (iovcnt > 0 && left >= iov->iov_len) {
      left -= iov->iov_len;
      ++iov;
      --iovcnt;
    }
    if (iovcnt > 0) {
      iov->iov_base = static_cast<char*>(iov->iov_base) + left;
      iov->iov_len -= left;
    }
  }
  return ok();
}

Status Io::write_all(std::span<const std::byte> b) {
  struct iovec v = {const_cast<std::byte*>(b.data()), b.size()};
  return write_all(&v, 1);
}

}  // namespace nbd::server
