// SPDX-License-Identifier: BSD-3-Clause
// Peer address and credentials of a client socket (see peer.h).
#include "server/peer.h"

#include <arpa/inet.h>
#include <linux/vm_sockets.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <string>

namespace nbd::server {
namespace {

std::string address_string(const sockaddr_storage& ss) {
  char host[INET6_ADDRSTRLEN] = "";
  switch (ss.ss_family) {
    case AF_INET: {
      auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
      inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
      return std::string(host) + ":" + std::to_string(ntohs(a->sin_port));
    }
    case AF_INET6: {
      auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
      inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
      return "[" + std::string(host) + "]:" + std::to_string(ntohs(a->sin6_port));
    }
    case AF_UNIX: return "unix";
    case AF_VSOCK: {
      auto* a = reinterpret_cast<const sockaddr_vm*>(&ss);
      return "vsock:" + std::to_string(a->svm_cid) + ":" + std::to_string(a->svm_port);
    }
    default: return "";
  }
}

}  // namespace

Peer peer_of(int fd) {
  Peer p;
  socklen_t len = sizeof p.addr;
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&p.addr), &len) != 0) return Peer{};
  p.addr_len = len;
  p.address = address_string(p.addr);
  if (p.addr.ss_family == AF_UNIX) {
    ucred cred{};
    socklen_t clen = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) == 0) {
      p.pid = cred.pid;
      p.uid = cred.uid;
      p.gid = cred.gid;
    }
  }
  return p;
}

}  // namespace nbd::server
