// SPDX-License-Identifier: BSD-3-Clause
// The CONNECTING phase: Unix, TCP and vsock sockets, an fd from the caller, a server on our
// stdin/stdout (connect_command) or under systemd socket activation; then the handshake.
#include <fcntl.h>
#include <linux/vm_sockets.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "client/impl.h"

namespace nbd::client {

Status Handle::Impl::start_connected(int sock) {
  fd = sock;
  transport = make_plain_transport(fd);
  start_handshake();
  return check_alive();
}

Status Handle::Impl::start_socket(int family, const sockaddr* sa, socklen_t len) {
  int s = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (s < 0) return fail(errno, "socket: %s", strerror(errno));
  if (family == AF_INET || family == AF_INET6) {
    int one = 1;
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // requests are latency-bound
  }
  if (::connect(s, sa, len) == 0) return start_connected(s);
  if (errno == EINPROGRESS || errno == EAGAIN) {
    fd = s;
    set_state(State::Connecting);
    return ok();
  }
  int err = errno;
  ::close(s);
  return fail(err, "connect: %s", strerror(err));
}

// Tries the next resolved TCP address; fails with the last error when none is left.
Status Handle::Impl::connect_next_addr() {
  Status last = fail(ECONNREFUSED, "connect: no address to connect to");
  while (!pending_addrs.empty()) {
    std::vector<std::byte> a = std::move(pending_addrs.front());
    pending_addrs.erase(pending_addrs.begin());
    auto* sa = reinterpret_cast<const sockaddr*>(a.data());
    last = start_socket(sa->sa_family, sa, socklen_t(a.size()));
    if (last) return last;
  }
  return last;
}

void Handle::Impl::on_connected() {
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
  if (err == 0) {
    if (!start_connected(fd)) return;
    return;
  }
  ::close(fd);
  fd = -1;
  if (!pending_addrs.empty() && connect_next_addr()) return;
  set_dead(err, "connect: %s", strerror(err));
}

void Handle::Impl::close_socket() {
  if (transport) {
    transport->shutdown();
    transport.reset();
    tls_session = nullptr;
  }
  if (fd >= 0) ::close(fd);
  fd = -1;
  want_then = nullptr;
}

Status start_unix(Handle::Impl& h, std::string_view path) {
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof sun.sun_path)
    return h.fail(ENAMETOOLONG, "socket path is empty or too long: %.*s", int(path.size()), path.data());
  memcpy(sun.sun_path, path.data(), path.size());  // a leading NUL means the abstract namespace
  h.where = Handle::Impl::Where::Unix;
  h.where_socket = std::string(path);
  socklen_t len = socklen_t(offsetof(sockaddr_un, sun_path) + path.size() + (path[0] ? 1 : 0));
  return h.start_socket(AF_UNIX, reinterpret_cast<sockaddr*>(&sun), len);
}

static Status start_tcp(Handle::Impl& h, std::string_view host, std::string_view port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  std::string hs(host), ps(port);
  if (int r = getaddrinfo(hs.c_str(), ps.c_str(), &hints, &res); r != 0)
    return h.fail(r == EAI_SYSTEM ? errno : ENXIO, "getaddrinfo: %s:%s: %s", hs.c_str(), ps.c_str(),
                  gai_strerror(r));
  h.pending_addrs.clear();
  for (addrinfo* a = res; a; a = a->ai_next) {
    auto* p = reinterpret_cast<const std::byte*>(a->ai_addr);
    h.pending_addrs.emplace_back(p, p + a->ai_addrlen);
  }
  freeaddrinfo(res);
  h.where = Handle::Impl::Where::Tcp;
  h.where_host = hs;
  h.where_port = ps;
  return h.connect_next_addr();
}

static Status start_vsock(Handle::Impl& h, uint32_t cid, uint32_t port) {
  sockaddr_vm svm{};
  svm.svm_family = AF_VSOCK;
  svm.svm_cid = cid;
  svm.svm_port = port;
  h.where = Handle::Impl::Where::Vsock;
  h.where_host = std::to_string(cid);
  h.where_port = std::to_string(port);
  return h.start_socket(AF_VSOCK, reinterpret_cast<sockaddr*>(&svm), sizeof svm);
}

Status start_fd(Handle::Impl& h, int sock) {
  int fl = fcntl(sock, F_GETFL);
  if (fl < 0 || fcntl(sock, F_SETFL, fl | O_NONBLOCK) < 0) return h.fail(errno, "fcntl: %s", strerror(errno));
  fcntl(sock, F_SETFD, FD_CLOEXEC);
  return h.start_connected(sock);
}

Status wait_connected(Handle::Impl& h) {
  const auto start = std::chrono::steady_clock::now();
  while (is_connecting(h.state)) {
    bool did;
    NBD_TRY(h.poll_handshake(start, &did));
  }
  if (h.state == State::Ready || h.state == State::Negotiating) return ok();
  if (h.state == State::Dead) return h.last_error();
  return h.fail(ENOTCONN, "connection closed during negotiation");
}

Status Handle::aio_connect_unix(std::string_view path) {
  NBD_HANDLE_CALL("nbd_aio_connect_unix");
  NBD_TRY(before_connect(*impl_));
  return start_unix(*impl_, path);
}
Status Handle::aio_connect(const struct sockaddr* addr, unsigned addrlen) {
  NBD_HANDLE_CALL("nbd_aio_connect");
  NBD_TRY(before_connect(*impl_));
  if (!addr || addrlen < sizeof(sa_family_t)) return impl_->fail(EINVAL, "addr: no address");
  if (addr->sa_family == AF_UNIX) {
    impl_->where = Handle::Impl::Where::Unix;
    const auto* sun = reinterpret_cast<const sockaddr_un*>(addr);
    size_t n = addrlen - offsetof(sockaddr_un, sun_path);
    impl_->where_socket.assign(sun->sun_path, strnlen(sun->sun_path, n));
  }
  return impl_->start_socket(addr->sa_family, addr, socklen_t(addrlen));
}
Status Handle::aio_connect_tcp(std::string_view host, std::string_view port) {
  NBD_HANDLE_CALL("nbd_aio_connect_tcp");
  NBD_TRY(before_connect(*impl_));
  return start_tcp(*impl_, host, port);
}
Status Handle::aio_connect_vsock(uint32_t cid, uint32_t port) {
  NBD_HANDLE_CALL("nbd_aio_connect_vsock");
  NBD_TRY(before_connect(*impl_));
  return start_vsock(*impl_, cid, port);
}
Status Handle::aio_connect_socket(int sock) {
  NBD_HANDLE_CALL("nbd_aio_connect_socket");
  NBD_TRY(before_connect(*impl_));
  return start_fd(*impl_, sock);
}
Status Handle::aio_connect_uri(std::string_view uri) {
  NBD_HANDLE_CALL("nbd_aio_connect_uri");
  NBD_TRY(before_connect(*impl_));
  return start_uri(*impl_, uri);
}

Status Handle::connect_unix(std::string_view path) {
  NBD_HANDLE_CALL("nbd_connect_unix");
  NBD_TRY(before_connect(*impl_));
  NBD_TRY(start_unix(*impl_, path));
  return wait_connected(*impl_);
}
Status Handle::connect_tcp(std::string_view host, std::string_view port) {
  NBD_HANDLE_CALL("nbd_connect_tcp");
  NBD_TRY(before_connect(*impl_));
  NBD_TRY(start_tcp(*impl_, host, port));
  return wait_connected(*impl_);
}
Status Handle::connect_vsock(uint32_t cid, uint32_t port) {
  NBD_HANDLE_CALL("nbd_connect_vsock");
  NBD_TRY(before_connect(*impl_));
  NBD_TRY(start_vsock(*impl_, cid, port));
  return wait_connected(*impl_);
}
Status Handle::connect_socket(int sock) {
  NBD_HANDLE_CALL("nbd_connect_socket");
  NBD_TRY(before_connect(*impl_));
  NBD_TRY(start_fd(*impl_, sock));
  return wait_connected(*impl_);
}
Status Handle::connect_uri(std::string_view uri) {
  NBD_HANDLE_CALL("nbd_connect_uri");
  NBD_TRY(before_connect(*impl_));
  NBD_TRY(start_uri(*impl_, uri));
  return wait_connected(*impl_);
}

// ---- URIs ----
Status start_uri(Handle::Impl& h, std::string_view uri_text) {
  auto parsed = parse_uri(uri_text);
  if (!parsed) return h.fail(parsed.error().errnum, "%s", parsed.error().message.c_str());
  const Uri& u = *parsed;
  if ((!u.tls_certificates.empty() || !u.tls_psk_file.empty()) && !h.uri_allow_local_file)
    return h.fail(EPERM, "local file access (tls-certificates, tls-psk-file) is not allowed");
  if (u.tls && h.uri_allow_tls == TlsMode::Disable)
    return h.fail(EPERM, "URI requires TLS (nbds:), which is not allowed by set_uri_allow_tls");
  if (!u.tls && h.uri_allow_tls == TlsMode::Require)
    return h.fail(EPERM, "URI does not use TLS (nbd:), which set_uri_allow_tls requires");
  uint32_t transport = u.transport == Uri::Transport::Tcp    ? kAllowTransportTcp
                       : u.transport == Uri::Transport::Unix ? kAllowTransportUnix
                                                             : kAllowTransportVsock;
  if (!(h.uri_allow_transports & transport))
    return h.fail(EPERM, "URI transport is not allowed by set_uri_allow_transports");
  h.export_name = u.export_name;
  if (u.tls) h.tls = TlsMode::Require;
  if (!u.tls_certificates.empty()) h.tls_certificates = u.tls_certificates;
  if (!u.tls_psk_file.empty()) h.tls_psk_file = u.tls_psk_file;
  if (!u.tls_hostname.empty()) h.tls_hostname = u.tls_hostname;
  if (!u.user.empty()) h.tls_username = u.user;
  if (!u.tls_username.empty()) h.tls_username = u.tls_username;
  if (u.tls_verify_peer >= 0) h.tls_verify_peer = u.tls_verify_peer != 0;
  switch (u.transport) {
    case Uri::Transport::Unix: return start_unix(h, u.socket);
    case Uri::Transport::Tcp: return start_tcp(h, u.host, u.port);
    case Uri::Transport::Vsock: {
      unsigned long cid = strtoul(u.host.c_str(), nullptr, 10);
      unsigned long port = strtoul(u.port.c_str(), nullptr, 10);
      return start_vsock(h, uint32_t(cid), uint32_t(port));
    }
  }
  return h.fail(EINVAL, "unknown transport");
}

}  // namespace nbd::client
