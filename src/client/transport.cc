// SPDX-License-Identifier: BSD-3-Clause
// The plain-socket Transport: recv and sendmsg straight on the file descriptor, and large
// payloads sent without a copy: vmsplice maps the caller's pages into a pipe and splice moves
// them to the socket by reference (nbdcopy's writes would otherwise cost a copy per byte).
#include "client/transport.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>

namespace nbd::client {
namespace {

constexpr size_t kZeroCopyMin = 64 * 1024;  // smaller buffers are cheaper to copy
constexpr int kPipeSize = 1 << 20;
constexpr int kUnixSendBuffer = 4 << 20;

class PlainTransport : public Transport {
 public:
  explicit PlainTransport(int fd) : fd_(fd) {
    // A Unix socket's send buffer (about 200 KiB by default) bounds the bytes we may have
    // queued for the server: a 1 MiB write payload then goes out in many pieces, each one a
    // wait for POLLOUT and a wake-up. A larger limit (the kernel caps it at wmem_max) lets
    // it go at once: nbdcopy between two servers measured about 10% faster. Not for TCP,
    // where setting it would turn off the kernel's own buffer tuning.
    sockaddr_storage sa{};
    socklen_t len = sizeof sa;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) == 0 && sa.ss_family == AF_UNIX) {
      int size = kUnixSendBuffer;
      (void)::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    }
  }
  ~PlainTransport() override {
    for (int f : {pipe_[0], pipe_[1], drain_[0], drain_[1], null_fd_})
      if (f >= 0) ::close(f);
  }

  ssize_t recv(void* buf, size_t n) override {
    for (;;) {
      ssize_t r = ::recv(fd_, buf, n, 0);
      if (r >= 0 || errno != EINTR) return r;
    }
  }

  // splice moves the socket's pages into a pipe and from there to /dev/null: no copy.
  ssize_t discard(size_t n) override {
    if (!use_splice_discard_ || !open_discard()) return Transport::discard(n);
    ssize_t r;
    do {
      r = ::splice(fd_, nullptr, drain_[1], nullptr, std::min(n, drain_size_),
                   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    } while (r < 0 && errno == EINTR);
    if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {  // cannot splice this fd: copy
      use_splice_discard_ = false;
      return Transport::discard(n);
    }
    if (r <= 0) return r;
    for (ssize_t left = r; left > 0;) {
      ssize_t k = ::splice(drain_[0], nullptr, null_fd_, nullptr, size_t(left), SPLICE_F_MOVE);
      if (k <= 0 && errno != EINTR) {  // cannot happen with /dev/null; never leave bytes behind
        std::byte buf[4096];
        k = ::read(drain_[0], buf, std::min(sizeof buf, size_t(left)));
        if (k <= 0) return -1;
      }
      if (k > 0) left -= k;
    }
    return r;
  }

  ssize_t sendv(const iovec* iov, int n, bool zero_copy) override {
    // Bytes left in the pipe by a short splice are the first bytes offered now: they go first.
    if (in_pipe_ > 0) return drain_pipe(iov, n);
    if (zero_copy && use_splice_) {
      int i = 0;
      while (i < n && iov[i].iov_len < kZeroCopyMin) ++i;
      if (i == 0) return splice_one(iov[0]);
      n = i;  // the small ones before it go by sendmsg; the large one next time
    }
    msghdr msg{};
    msg.msg_iov = const_cast<iovec*>(iov);
    msg.msg_iovlen = size_t(n > IOV_MAX ? IOV_MAX : n);
    for (;;) {
      // MSG_NOSIGNAL: a server that went away is an error on the handle, never a SIGPIPE.
      ssize_t r = ::sendmsg(fd_, &msg, MSG_NOSIGNAL);
      if (r >= 0 || errno != EINTR) return r;
    }
  }

 private:
  // Makes a non-blocking pipe of up to kPipeSize bytes; returns its capacity, 0 on failure.
  static size_t open_pipe(int fds[2]) {
    if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0) return 0;
    int size = ::fcntl(fds[1], F_SETPIPE_SZ, kPipeSize);
    if (size < 0) size = ::fcntl(fds[1], F_GETPIPE_SZ);
    return size > 0 ? size_t(size) : 65536;
  }

  bool open_discard() {
    if (null_fd_ >= 0) return true;
    drain_size_ = open_pipe(drain_);
    if (drain_size_ == 0) {
      use_splice_discard_ = false;
      return false;
    }
    null_fd_ = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (null_fd_ < 0) use_splice_discard_ = false;
    return null_fd_ >= 0;
  }

  // Maps as much of v as the pipe holds into it, then moves that to the socket.
  ssize_t splice_one(const iovec& v) {
    if (pipe_size_ == 0) pipe_size_ = open_pipe(pipe_);
    if (pipe_size_ == 0) {
      use_splice_ = false;
      return sendv(&v, 1, false);
    }
    iovec part{v.iov_base, std::min(v.iov_len, pipe_size_)};
    ssize_t m;
    do {
      m = ::vmsplice(pipe_[1], &part, 1, SPLICE_F_NONBLOCK);
    } while (m < 0 && errno == EINTR);
    if (m <= 0) {  // not supported here: copy from now on
      use_splice_ = false;
      return sendv(&v, 1, false);
    }
    in_pipe_ = size_t(m);
    return drain_pipe(&v, 1);
  }

  // Moves the pipe's bytes (the first in_pipe_ bytes of iov) to the socket.
  ssize_t drain_pipe(const iovec* iov, int n) {
    size_t offered = 0;
    for (int i = 0; i < n && offered < in_pipe_; ++i) offered += iov[i].iov_len;
    if (offered < in_pipe_) {  // the caller broke the contract: never send stale bytes
      errno = EPROTO;
      return -1;
    }
    // splice does not take MSG_NOSIGNAL: hold SIGPIPE back and swallow one we caused.
    sigset_t pipe_set, old;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    ssize_t r;
    do {
      r = ::splice(pipe_[0], nullptr, fd_, nullptr, in_pipe_, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    } while (r < 0 && errno == EINTR);
    // A splice that moved some bytes and then found the peer gone returns the count, not EPIPE,
    // yet has raised SIGPIPE: look for one after any splice that did not move everything.
    if (r != ssize_t(in_pipe_)) {
      int saved = errno;
      struct timespec zero = {0, 0};
      sigtimedwait(&pipe_set, nullptr, &zero);
      errno = saved;
    }
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    if (r > 0) in_pipe_ -= size_t(r);
    return r;
  }

  int fd_;
  int pipe_[2] = {-1, -1};
  size_t pipe_size_ = 0, in_pipe_ = 0;
  bool use_splice_ = true;
  int drain_[2] = {-1, -1};  // for discard, apart from the send pipe
  int null_fd_ = -1;
  size_t drain_size_ = 0;
  bool use_splice_discard_ = true;
};

}  // namespace

ssize_t Transport::discard(size_t n) {
  static thread_local std::byte scratch[64 * 1024];
  return recv(scratch, std::min(n, sizeof scratch));
}

std::unique_ptr<Transport> make_plain_transport(int fd) { return std::make_unique<PlainTransport>(fd); }

}  // namespace nbd::client
