// SPDX-License-Identifier: BSD-3-Clause
// The nbd plugin's backend connection: connect (with retries), then one thread that polls the
// socket and moves bytes while request threads queue commands and wait for their replies.
#include "backend.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <cstring>
#include <mutex>

#include "nbd/log.h"
#include "nbd/parse.h"
#include "nbd/protocol.h"

namespace nbd::plugins::nbd_proxy {
namespace {

Status configure(client::Handle& h, const Target& t) {
  NBD_TRY(h.set_opt_mode(true));
  // timeout= bounds the handshake as well as each request.
  h.set_handshake_timeout(int(std::min<uint64_t>(uint64_t(t.timeout_s) * 1000, INT32_MAX)));
  NBD_TRY(h.add_meta_context("base:allocation"));
  if (t.tls != client::TlsMode::Disable) NBD_TRY(h.set_tls(t.tls));
  if (!t.tls_certificates.empty()) NBD_TRY(h.set_tls_certificates(t.tls_certificates));
  if (t.tls_verify >= 0) NBD_TRY(h.set_tls_verify_peer(t.tls_verify == 1));
  if (!t.tls_username.empty()) NBD_TRY(h.set_tls_username(t.tls_username));
  if (!t.tls_psk.empty()) NBD_TRY(h.set_tls_psk_file(t.tls_psk));
  return ok();
}

Status connect_once(client::Handle& h, const Target& t) {
  if (!t.uri.empty()) return h.connect_uri(t.uri);
  if (!t.socket.empty()) return h.connect_unix(t.socket);
  if (!t.hostname.empty()) return h.connect_tcp(t.hostname, t.port);
  if (!t.vsock.empty()) {
    NBD_TRY_ASSIGN(uint32_t cid, parse_uint32("vsock", t.vsock));
    NBD_TRY_ASSIGN(uint32_t port, parse_uint32("port", t.port));
    return h.connect_vsock(cid, port);
  }
  if (!t.command.empty()) return h.connect_systemd_socket_activation(t.command);
  int fd = ::dup(t.socket_fd);
  if (fd < 0) return make_error(errno, std::string("socket-fd: dup: ") + std::strerror(errno));
  return h.connect_socket(fd);
}

// Waits for one command's completion callback.
struct Waiter {
  std::mutex m;
  std::condition_variable cv;
  bool done = false;
  int err = 0;
};

using protocol::kCmdFlagFastZero;
using protocol::kCmdFlagFua;
using protocol::kCmdFlagNoHole;
using protocol::kCmdFlagReqOne;

uint32_t nbd_flags(uint32_t flags) {
  uint32_t f = 0;
  if (flags & kFua) f |= kCmdFlagFua;
  if (flags & kFastZero) f |= kCmdFlagFastZero;
  if (flags & kReqOne) f |= kCmdFlagReqOne;
  return f;
}

}  // namespace

Result<std::unique_ptr<Backend>> Backend::connect(const Target& t, const std::string* export_name) {
  std::unique_ptr<Backend> b(new Backend());
  for (unsigned attempt = 0;; ++attempt) {
    b->h_ = std::make_unique<client::Handle>();
    Status st = configure(*b->h_, t);
    if (st) st = connect_once(*b->h_, t);
    // A URI names its export; dynamic-export=true passes the client's instead.
    if (st && export_name) {
      st = b->h_->set_export_name(*export_name);
    } else if (st && t.uri.empty()) {
      st = b->h_->set_export_name(t.export_name);
    }
    if (st) st = b->h_->opt_go();
    if (st) break;
    if (attempt >= t.retry) return make_error(st.error().errnum, st.error().message);
    log::debug("connect failed (%s), retrying in 1 s", st.error().message.c_str());
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  b->timeout_s_ = t.timeout_s;
  NBD_TRY(b->start());
  return b;
}

Result<std::vector<ExportInfo>> Backend::list_exports(const Target& t) {
  client::Handle h;
  NBD_TRY(configure(h, t));
  if (Status st = connect_once(h, t); !st) return make_error(st.error().errnum, st.error().message);
  std::vector<ExportInfo> out;
  auto n = h.opt_list([&](std::string_view name, std::string_view description) {
    out.push_back({std::string(name), std::string(description)});
    return 0;
  });
  (void)h.opt_abort();
  if (!n) return make_error(n.error().errnum, "listing the server's exports: " + n.error().message);
  return out;
}

Status Backend::start() {
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) return make_error(errno, std::string("eventfd: ") + std::strerror(errno));
  thread_ = std::thread([this] { drive(); });
  return ok();
}

Backend::~Backend() {
  if (thread_.joinable()) {
    stop_ = true;
    wake();
    thread_.join();
  }
  if (wake_fd_ >= 0) ::close(wake_fd_);
  // Say goodbye, giving the server a moment to close; the handle's destructor closes the socket
  // (and stops a server started by command=).
  if (h_ && h_->aio_is_ready() && h_->aio_disconnect(0)) {
    for (int i = 0; i < 20 && !h_->aio_is_closed() && !h_->aio_is_dead(); ++i) (void)h_->poll(50);
  }
}

void Backend::wake() {
  uint64_t one = 1;
  (void)!::write(wake_fd_, &one, sizeof one);
}

void Backend::drive() {
  while (!stop_) {
    const int fd = h_->aio_get_fd();
    const unsigned dir = h_->aio_get_direction();
    pollfd p[2] = {{wake_fd_, POLLIN, 0}, {fd, 0, 0}};
    if (dir & client::kAioDirectionRead) p[1].events |= POLLIN;
    if (dir & client::kAioDirectionWrite) p[1].events |= POLLOUT;
    // A dead handle has failed every command; only the wake-up for stopping is left to wait for.
    const bool live = fd >= 0 && !h_->aio_is_dead() && !h_->aio_is_closed();
    if (::poll(p, live ? 2 : 1, -1) < 0) continue;
    if (p[0].revents) {
      uint64_t n;
      (void)!::read(wake_fd_, &n, sizeof n);
    }
    if (!live) continue;
    if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) (void)h_->aio_notify_read();
    if (p[1].revents & POLLOUT) (void)h_->aio_notify_write();
  }
}

template <class Submit>
Status Backend::run(Submit submit) {
  if (timed_out_)
    return make_error(ETIMEDOUT,
                      "the connection to the server was closed after it left a request unanswered for " +
                          std::to_string(timeout_s_) + " s (timeout=)");
  Waiter w;
  client::CompletionCallback done([&w](int* error) {
    std::lock_guard lock(w.m);
    w.err = *error;
    w.done = true;
    w.cv.notify_one();
    return 1;
  });
  auto cookie = submit(std::move(done));
  if (!cookie) return make_error(cookie.error().errnum, cookie.error().message);
  wake();
  std::unique_lock lock(w.m);
  if (!w.cv.wait_for(lock, std::chrono::seconds(timeout_s_), [&] { return w.done; })) {
    // The server has not answered: cut the connection. The socket thread then sees it closed
    // and fails every command in flight, this one included, so the buffers they write into
    // are released before anyone returns.
    // Not with w.m held: the socket thread holds the handle's lock while it runs callbacks,
    // which take w.m.
    lock.unlock();
    if (!timed_out_.exchange(true)) {
      log::error("the server did not answer a request in %u s (timeout=): closing the connection to it",
                 timeout_s_);
      ::shutdown(h_->aio_get_fd(), SHUT_RDWR);
      wake();
    }
    lock.lock();
    w.cv.wait(lock, [&] { return w.done; });
  }
  if (timed_out_)
    return make_error(ETIMEDOUT, "the server did not answer within " + std::to_string(timeout_s_) +
                                     " s (timeout=): its connection is closed");
  if (w.err) return make_error(w.err, std::string("server replied: ") + std::strerror(w.err));
  return ok();
}

Status Backend::pread(std::span<std::byte> buf, uint64_t offset, uint32_t flags) {
  return run([&](client::CompletionCallback cb) {
    return h_->aio_pread(buf, offset, std::move(cb), nbd_flags(flags));
  });
}

Status Backend::pwrite(std::span<const std::byte> buf, uint64_t offset, uint32_t flags) {
  return run([&](client::CompletionCallback cb) {
    return h_->aio_pwrite(buf, offset, std::move(cb), nbd_flags(flags));
  });
}

Status Backend::flush() {
  return run([&](client::CompletionCallback cb) { return h_->aio_flush(std::move(cb)); });
}

Status Backend::trim(uint64_t count, uint64_t offset, uint32_t flags) {
  return run([&](client::CompletionCallback cb) {
    return h_->aio_trim(count, offset, std::move(cb), nbd_flags(flags));
  });
}

Status Backend::zero(uint64_t count, uint64_t offset, uint32_t flags) {
  uint32_t f = nbd_flags(flags) | ((flags & kMayTrim) ? 0 : kCmdFlagNoHole);
  return run([&](client::CompletionCallback cb) { return h_->aio_zero(count, offset, std::move(cb), f); });
}

Status Backend::cache(uint64_t count, uint64_t offset) {
  return run([&](client::CompletionCallback cb) { return h_->aio_cache(count, offset, std::move(cb)); });
}

Status Backend::extents(uint64_t count, uint64_t offset, uint32_t flags, ExtentList& out) {
  client::ExtentCallback each = [&out](std::string_view context, uint64_t, std::span<const Extent> entries,
                                       int* error) {
    if (context != "base:allocation") return 0;
    for (const Extent& e : entries) {
      if (e.offset < out.next_offset()) continue;  // a repeat of what an earlier chunk said
      if (Status st = out.add(e.offset, e.length, e.flags & (kExtentHole | kExtentZero)); !st) {
        *error = st.error().errnum;
        return -1;
      }
    }
    return 0;
  };
  return run([&](client::CompletionCallback cb) {
    return h_->aio_block_status_64(count, offset, each, std::move(cb), nbd_flags(flags));
  });
}

}  // namespace nbd::plugins::nbd_proxy
