// SPDX-License-Identifier: BSD-3-Clause
// The plain-socket Transport: recv and sendmsg straight on the file descriptor.
#include "client/transport.h"

#include <sys/socket.h>

#include <climits>

namespace nbd::client {
namespace {

class PlainTransport : public Transport {
 public:
  explicit PlainTransport(int fd) : fd_(fd) {}
  ssize_t recv(void* buf, size_t n) override {
    for (;;) {
      ssize_t r = ::recv(fd_, buf, n, 0);
      if (r >= 0 || errno != EINTR) return r;
    }
  }
  ssize_t sendv(const iovec* iov, int n) override {
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
  int fd_;
};

}  // namespace

std::unique_ptr<Transport> make_plain_transport(int fd) { return std::make_unique<PlainTransport>(fd); }

}  // namespace nbd::client
