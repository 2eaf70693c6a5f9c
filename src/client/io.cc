// SPDX-License-Identifier: BSD-3-Clause
// The async core: moves bytes between the socket and the state machine. Reads go into a large
// buffer (many replies per recv) or, for big payloads, straight into the caller's buffer;
// writes gather handshake bytes, request headers and write payloads into one sendmsg.
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>

#include "client/impl.h"

namespace nbd::client {

namespace {
constexpr size_t kRecvBufferSize = 256 * 1024;
constexpr size_t kDirectReadThreshold = 64 * 1024;
constexpr size_t kSmallRecv = 32 * 1024;
}  // namespace

void Handle::Impl::want(std::byte* p, size_t n, void (Impl::*then)()) {
  want_ptr = p;
  want_len = n;
  want_got = 0;
  want_then = then;
}

void Handle::Impl::queue_bytes(std::span<const std::byte> b) {
  hs_out.insert(hs_out.end(), b.begin(), b.end());
}

bool Handle::Impl::has_buffered_input() const {
  if (state == State::Dead || state == State::Closed || state == State::Created) return false;
  return want_then && (rend > rstart || (transport && transport->pending()));
}

namespace {
void on_eof(Handle::Impl& h) {
  if (h.expect_eof) {
    h.debugf("server closed the connection");
    h.close_socket();
    h.set_state(State::Closed);
    h.fail_all(ENOTCONN);
    return;
  }
  h.set_dead(ECONNRESET, "%s: server closed the connection unexpectedly", state_name(h.state));
}
}  // namespace

static void read_loop(Handle::Impl& h) {
  if (h.rbuf.empty()) h.rbuf.resize(kRecvBufferSize);
  while (h.want_then && h.state != State::Dead && h.state != State::Closed) {
    size_t need = h.want_len - h.want_got;
    if (need == 0) {
      auto then = h.want_then;
      h.want_then = nullptr;
      (h.*then)();
      continue;
    }
    if (size_t avail = h.rend - h.rstart; avail > 0) {
      size_t n = std::min(avail, need);
      if (h.want_ptr) memcpy(h.want_ptr + h.want_got, h.rbuf.data() + h.rstart, n);
      h.rstart += n;
      h.want_got += n;
      if (h.rstart == h.rend) h.rstart = h.rend = 0;
      continue;
    }
    // A discarded read's data goes to the transport's discard, a big payload straight into
    // the caller's buffer. Small wants (headers) read at most kSmallRecv: enough for hundreds
    // of short replies, while a big payload behind a header mostly lands in place.
    bool direct = !h.want_ptr || need >= kDirectReadThreshold;
    ssize_t r = !h.want_ptr ? h.transport->discard(need)
                : direct    ? h.transport->recv(h.want_ptr + h.want_got, need)
                            : h.transport->recv(h.rbuf.data(), std::min(h.rbuf.size(), kSmallRecv));
    if (r < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      h.set_dead(errno, "recv: %s", strerror(errno));
      return;
    }
    if (r == 0) {
      on_eof(h);
      return;
    }
    if (direct)
      h.want_got += size_t(r);
    else
      h.rend = size_t(r);
  }
}

// Under constant load the queue may never drain completely: drop the sent prefix now and then.
static void compact_iov(Handle::Impl& h) {
  if (h.iov_head > 1024 && h.iov_head * 2 > h.iov.size()) {
    h.iov.erase(h.iov.begin(), h.iov.begin() + long(h.iov_head));
    h.iov_head = 0;
  }
}

static void write_loop(Handle::Impl& h) {
  while (h.have_output() && h.transport) {
    ssize_t r;
    if (h.hs_out_pos < h.hs_out.size()) {
      iovec one{h.hs_out.data() + h.hs_out_pos, h.hs_out.size() - h.hs_out_pos};
      r = h.transport->sendv(&one, 1);
    } else {
      // Request headers and write payloads: the caller keeps a payload unchanged until its
      // command completes, so large ones may go by reference.
      r = h.transport->sendv(h.iov.data() + h.iov_head, int(h.iov.size() - h.iov_head), true);
    }
    if (r < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return compact_iov(h);
      h.set_dead(errno, "send: %s", strerror(errno));
      return;
    }
    size_t n = size_t(r);
    size_t hs = std::min(n, h.hs_out.size() - h.hs_out_pos);
    h.hs_out_pos += hs;
    n -= hs;
    while (n > 0 && h.iov_head < h.iov.size()) {
      iovec& v = h.iov[h.iov_head];
      size_t k = std::min(n, v.iov_len);
      v.iov_base = static_cast<std::byte*>(v.iov_base) + k;
      v.iov_len -= k;
      n -= k;
      if (v.iov_len == 0) ++h.iov_head;
    }
  }

  if (!h.have_output()) {
    h.hs_out.clear();
    h.hs_out_pos = 0;
    h.iov.clear();
    h.iov_head = 0;
    if (h.close_after_send) {
      h.close_after_send = false;
      h.close_socket();
      h.set_state(State::Closed);
    }
  }
}

// The socket is ready: connecting and TLS handshakes advance their own way, the other
// states move bytes with `move` (read_loop or write_loop).
Status Handle::Impl::notify(void (*move)(Impl&)) {
  switch (state) {
    case State::Created:
    case State::Closed: return fail(ENOTCONN, "invalid state: %s: not connected", client::state_name(state));
    case State::Dead: return last_error();
    case State::Connecting: on_connected(); break;
    case State::TlsHandshake: tls_step(); break;
    default: move(*this); break;
  }
  return check_alive();
}

Status Handle::Impl::notify_read() { return notify(read_loop); }
Status Handle::Impl::notify_write() { return notify(write_loop); }

unsigned Handle::Impl::direction() const {
  switch (state) {
    case State::Created:
    case State::Dead:
    case State::Closed: return 0;
    case State::Connecting: return kAioDirectionWrite;
    case State::TlsHandshake: {
      unsigned d = transport ? transport->blocked_direction() : 0;
      return d ? d : kAioDirectionRead;
    }
    default: break;
  }
  unsigned d = kAioDirectionRead;
  if (have_output()) d |= kAioDirectionWrite;
  if (transport) d |= transport->blocked_direction();
  return d;
}

Status Handle::Impl::poll_once(int timeout_ms, bool* did_work) {
  *did_work = false;
  if (state == State::Dead) return last_error();
  if (has_buffered_input()) {
    *did_work = true;
    return notify_read();
  }
  // Send what is queued before sleeping: the reply we wait for may depend on it.
  if (have_output() && state != State::Connecting && state != State::TlsHandshake) {
    NBD_TRY(notify_write());
    if (state == State::Closed) {
      *did_work = true;
      return ok();
    }
  }
  unsigned d = direction();
  if (d == 0) return fail(ENOTCONN, "invalid state: %s: not connected", client::state_name(state));
  pollfd p{fd, short(((d & kAioDirectionRead) ? POLLIN : 0) | ((d & kAioDirectionWrite) ? POLLOUT : 0)), 0};
  int r = ::poll(&p, 1, timeout_ms);
  if (r < 0) {
    if (errno == EINTR) return ok();
    return fail(errno, "poll: %s", strerror(errno));
  }
  if (r == 0) return ok();
  *did_work = true;
  if (state == State::Connecting) return notify_write();
  if (p.revents & POLLOUT) NBD_TRY(notify_write());
  if (p.revents & (POLLIN | POLLHUP | POLLERR)) NBD_TRY(notify_read());
  return ok();
}

Status Handle::Impl::poll_handshake(std::chrono::steady_clock::time_point start, bool* did_work) {
  if (handshake_timeout_ms < 0) return poll_once(-1, did_work);
  auto spent =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
  long long left = handshake_timeout_ms - spent.count();
  if (left <= 0) {
    set_dead(ETIMEDOUT, "the server did not answer within %d ms during the handshake", handshake_timeout_ms);
    return last_error();
  }
  return poll_once(int(left), did_work);
}

// ---- public driving API ----
Result<int> Handle::poll(int timeout_ms) {
  NBD_HANDLE_CALL("nbd_poll");
  bool did = false;
  NBD_TRY(impl_->poll_once(timeout_ms, &did));
  return did ? 1 : 0;
}

int Handle::aio_get_fd() const {
  NBD_HANDLE_LOCK;
  return impl_->fd;
}
unsigned Handle::aio_get_direction() const {
  NBD_HANDLE_LOCK;
  return impl_->direction();
}

Status Handle::aio_notify_read() {
  NBD_HANDLE_CALL("nbd_aio_notify_read");
  NBD_TRY(impl_->notify_read());
  // TLS may hold decrypted records that the socket will never signal again.
  while (impl_->has_buffered_input()) NBD_TRY(impl_->notify_read());
  return ok();
}

Status Handle::aio_notify_write() {
  NBD_HANDLE_CALL("nbd_aio_notify_write");
  return impl_->notify_write();
}

}  // namespace nbd::client
