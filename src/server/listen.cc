// SPDX-License-Identifier: BSD-3-Clause
// Listener setup (see listen.h).
#include "server/listen.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#ifdef __linux__
#include <linux/vm_sockets.h>
#endif

#include "common/encoding.h"

namespace nbd::server {
namespace {

void set_cloexec(int fd) { fcntl(fd, F_SETFD, fcntl(fd, F_GETFD) | FD_CLOEXEC); }

Result<int> listen_unix(const std::string& path) {
  struct sockaddr_un sa = {};
  sa.sun_family = AF_UNIX;
  if (path.size() >= sizeof sa.sun_path)
    return make_error(ENAMETOOLONG, "-U " + path + ": socket path is too long");
  std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno_error("socket");
  ::unlink(path.c_str());
  if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0 || listen(fd, SOMAXCONN) < 0) {
    Error e = errno_error("-U " + path);
    ::close(fd);
    return e;
  }
  return fd;
}

Status listen_tcp(const Options& o, Listeners& l) {
  struct addrinfo hints = {}, *res = nullptr;
  hints.ai_family = o.ipv4_only ? AF_INET : o.ipv6_only ? AF_INET6 : AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_ADDRCONFIG;
  l.port = o.port.empty() ? "10809" : o.port;
  l.ipaddr = o.ipaddr;
  int r = getaddrinfo(o.ipaddr.empty() ? nullptr : o.ipaddr.c_str(), l.port.c_str(), &hints, &res);
  if (r != 0) return make_error(EINVAL, "-i " + o.ipaddr + " -p " + l.port + ": " + gai_strerror(r));
  std::string last_error;
  for (auto* a = res; a; a = a->ai_next) {
    int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (a->ai_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(fd, a->ai_addr, a->ai_addrlen) < 0 || listen(fd, SOMAXCONN) < 0) {
      last_error = std::strerror(errno);
      ::close(fd);
      continue;
    }
    l.fds.push_back(fd);
  }
  freeaddrinfo(res);
  if (l.fds.empty()) return make_error(EADDRINUSE, "-p " + l.port + ": cannot listen: " + last_error);
  return ok();
}

Status listen_vsock(const Options& o, Listeners& l) {
#ifdef __linux__
  l.port = o.port.empty() ? "10809" : o.port;
  int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno_error("--vsock: socket");
  struct sockaddr_vm sa = {};
  sa.svm_family = AF_VSOCK;
  sa.svm_cid = VMADDR_CID_ANY;
  sa.svm_port = unsigned(std::stoul(l.port));
  if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0 || listen(fd, SOMAXCONN) < 0) {
    Error e = errno_error("--vsock");
    ::close(fd);
    return e;
  }
  l.fds.push_back(fd);
  l.vsock = true;
  return ok();
#else
  (void)o;
  (void)l;
  return make_error(ENOTSUP, "--vsock is not supported on this platform");
#endif
}

// systemd socket activation: fds 3..3+LISTEN_FDS-1 when LISTEN_PID is us.
bool socket_activation(Listeners& l) {
  const char* pid = getenv("LISTEN_PID");
  const char* n = getenv("LISTEN_FDS");
  if (!pid || !n || std::strtol(pid, nullptr, 10) != long(getpid())) return false;
  long count = std::strtol(n, nullptr, 10);
  if (count <= 0 || count > 64) return false;
  for (long i = 0; i < count; ++i) {
    set_cloexec(int(3 + i));
    l.fds.push_back(int(3 + i));
  }
  unsetenv("LISTEN_PID");
  unsetenv("LISTEN_FDS");
  unsetenv("LISTEN_FDNAMES");
  l.activated = true;
  return true;
}

}  // namespace

std::string Listeners::uri(const std::string& exportname, bool tls) const {
  std::string path = exportname.empty() ? "" : "/" + percent_encode(exportname, "-._~/");
  std::string scheme = tls ? "nbds" : "nbd";
  if (!unix_path.empty()) return scheme + "+unix://" + (path.empty() ? "" : path) + "?socket=" + unix_path;
  if (vsock) return scheme + "+vsock://1:" + port + path;
  if (!port.empty()) {
    std::string host = ipaddr.empty()                          ? "localhost"
                       : ipaddr.find(':') != std::string::npos ? "[" + ipaddr + "]"
                                                               : ipaddr;
    return scheme + "://" + host + ":" + port + path;
  }
  return "";
}

void Listeners::close_and_remove() {
  for (int fd : fds) ::close(fd);
  fds.clear();
  if (!unix_path.empty() && !activated) ::unlink(unix_path.c_str());
  private_dir.remove();
}

Result<Listeners> open_listeners(const Options& o) {
  Listeners l;
  if (socket_activation(l)) return l;
  if (o.vsock) {
    NBD_TRY(listen_vsock(o, l));
    return l;
  }
  if (!o.unix_socket.empty()) {
    std::string path = o.unix_socket;
    if (path == "-") {
      // In /tmp whatever $TMPDIR says, as upstream: a socket path must stay short.
      NBD_TRY_ASSIGN(l.private_dir, TempDir::create("nbdkit", "/tmp"));
      path = l.private_dir.file("socket");
    }
    auto fd = listen_unix(path);
    if (!fd) return std::move(fd).error();  // the private dir goes with l
    l.fds.push_back(*fd);
    l.unix_path = path;
    return l;
  }
  NBD_TRY(listen_tcp(o, l));
  return l;
}

}  // namespace nbd::server
