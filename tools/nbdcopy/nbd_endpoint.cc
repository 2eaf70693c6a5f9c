// SPDX-License-Identifier: BSD-3-Clause
// NBD servers as nbdcopy endpoints, through nbd::client: one Handle per channel (multi-conn
// when the server allows it), asynchronous reads/writes/zeroes driven by the copier's poll.
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

#include "endpoint.h"
#include "io_util.h"
#include "nbd/client.h"

namespace nbd::copy {
namespace {

using client::Handle;

Error handle_error(const Handle& h, const Status& st) {
  int e = h.get_errno() ? h.get_errno() : st.error().errnum;
  return make_error(e, st.error().message);
}

// Turns a completion's errno into a Status for the copier.
Status errno_status(int err) {
  if (err == 0) return ok();
  return make_error(err, std::strerror(err));
}

class NbdChannel final : public Channel {
 public:
  NbdChannel(std::unique_ptr<Handle> h, bool can_zero) : h_(std::move(h)), can_zero_(can_zero) {}
  // A clean NBD_CMD_DISC lets a captive server (qemu-nbd on qcow2) finish its writes before
  // the handle's destructor stops it.
  ~NbdChannel() override {
    if (h_->aio_is_ready()) (void)h_->shutdown();
  }

  void read(std::span<std::byte> buf, uint64_t offset, Completion& c, size_t* got) override {
    if (got) *got = buf.size();
    started(c, h_->aio_pread(buf, offset, done(c)));
  }

  void read_discard(uint64_t count, uint64_t offset, std::span<std::byte>, Completion& c) override {
    started(c, h_->aio_pread_discard(count, offset, done(c)));
  }

  void write(std::span<const std::byte> buf, uint64_t offset, Completion& c) override {
    started(c, h_->aio_pwrite(buf, offset, done(c)));
  }

  void zero(uint64_t count, uint64_t offset, bool allocate, Completion& c) override {
    if (!can_zero_) return write_zeroes(count, offset, c);
    uint32_t flags = allocate ? client::kCmdFlagNoHole : 0;
    started(c, h_->aio_zero(count, offset, done(c), flags));
  }

  Status extents(uint64_t count, uint64_t offset, std::vector<Extent>& out) override {
    const uint64_t end = offset + count;
    while (offset < end) {
      uint64_t pos = offset;
      auto cb = [&](std::string_view ctx, uint64_t start, std::span<const nbd::Extent> es, int*) {
        if (ctx != "base:allocation") return 0;
        pos = start;
        for (const auto& e : es) {
          if (e.length == 0 || pos >= end) break;
          out.push_back({pos, e.length, e.flags});
          pos += e.length;
        }
        return 0;
      };
      auto st = h_->block_status_64(std::min<uint64_t>(end - offset, uint64_t{1} << 30), offset, cb);
      if (!st) return handle_error(*h_, st);
      if (pos <= offset) return make_error(EPROTO, "server sent an empty block status reply");
      offset = pos;
    }
    return ok();
  }

  Status flush() override {
    auto can = h_->can_flush();
    if (!can || !*can) return ok();
    auto st = h_->flush();
    if (!st) return handle_error(*h_, st);
    return ok();
  }

  int poll_fd() const override { return h_->aio_get_fd(); }
  short poll_events() const override {
    unsigned d = h_->aio_get_direction();
    return static_cast<short>(((d & client::kAioDirectionRead) ? POLLIN : 0) |
                              ((d & client::kAioDirectionWrite) ? POLLOUT : 0));
  }
  Status notify(short revents) override {
    if (revents & (POLLIN | POLLHUP | POLLERR)) {
      if (auto st = h_->aio_notify_read(); !st) return handle_error(*h_, st);
    }
    if (revents & POLLOUT) {
      if (auto st = h_->aio_notify_write(); !st) return handle_error(*h_, st);
    }
    return ok();
  }
  Status wait_one() override {
    auto r = h_->poll(-1);
    if (!r) return handle_error(*h_, Status(r.error()));
    return ok();
  }
  unsigned in_flight() const override { return static_cast<unsigned>(h_->aio_in_flight()); }

 private:
  static client::CompletionCallback done(Completion& c) {
    return [&c](int* err) {
      c.complete(errno_status(*err));
      return 1;
    };
  }
  void started(Completion& c, const Result<client::Cookie>& r) {
    if (!r) c.complete(handle_error(*h_, Status(r.error())));
  }

  // For servers without NBD_CMD_WRITE_ZEROES: plain writes from the shared zero block, one
  // completion when the last of them retires.
  void write_zeroes(uint64_t count, uint64_t offset, Completion& c) {
    struct Group {
      Completion* c;
      unsigned left;
      int err = 0;
    };
    auto zeroes = zero_buffer();
    auto* g = new Group{&c, 1};
    for (uint64_t off = offset, end = offset + count; off < end;) {
      uint64_t n = std::min<uint64_t>(end - off, zeroes.size());
      ++g->left;
      auto r = h_->aio_pwrite(zeroes.first(n), off, [g](int* err) {
        if (*err && !g->err) g->err = *err;
        if (--g->left == 0) {
          g->c->complete(errno_status(g->err));
          delete g;
        }
        return 1;
      });
      if (!r) {
        --g->left;
        if (!g->err) g->err = h_->get_errno() ? h_->get_errno() : EIO;
        break;
      }
      off += n;
    }
    if (--g->left == 0) {
      g->c->complete(errno_status(g->err));
      delete g;
    }
  }

  std::unique_ptr<Handle> h_;
  bool can_zero_;
};

class NbdEndpoint final : public Endpoint {
 public:
  NbdEndpoint(std::string name, std::string uri, std::vector<std::string> argv, const EndpointOptions& o)
      : name_(std::move(name)), uri_(std::move(uri)), argv_(std::move(argv)), o_(o) {}

  Status open_first(Role role) {
    NBD_TRY_ASSIGN(first_, connect());
    auto size = first_->get_size();
    if (!size) return make_error(EIO, name_ + ": " + size.error().message);
    size_ = static_cast<uint64_t>(*size);
    if (role == Role::Destination && first_->is_read_only().value_or(false))
      return make_error(EROFS, name_ + ": the destination is read-only");
    can_extents_ = first_->can_meta_context("base:allocation").value_or(false);
    can_zero_ = first_->can_zero().value_or(false);
    bool multi = argv_.empty() && first_->can_multi_conn().value_or(false);
    max_channels_ = multi ? std::max(1u, o_.connections) : 1;
    sockaddr_storage sa{};
    socklen_t len = sizeof sa;
    remote_ = ::getsockname(first_->aio_get_fd(), reinterpret_cast<sockaddr*>(&sa), &len) == 0 &&
              sa.ss_family != AF_UNIX;
    preferred_ = static_cast<uint32_t>(first_->get_block_size(client::BlockSizeKind::Preferred).value_or(0));
    max_request_ = static_cast<uint32_t>(first_->get_block_size(client::BlockSizeKind::Maximum).value_or(0));
    return ok();
  }

  const std::string& name() const override { return name_; }
  std::optional<uint64_t> size() const override { return size_; }
  unsigned max_channels() const override { return max_channels_; }
  bool can_extents() const override { return can_extents_; }
  uint32_t preferred_block_size() const override { return std::max<uint32_t>(preferred_, 4096); }
  uint32_t max_request_size() const override { return max_request_; }
  bool is_remote() const override { return remote_; }
  Result<bool> prepare_destination(std::optional<uint64_t>) override { return false; }

  Result<std::unique_ptr<Channel>> open_channel() override {
    std::unique_ptr<Handle> h;
    if (first_) {
      h = std::move(first_);
    } else {
      NBD_TRY_ASSIGN(h, connect());
    }
    return std::unique_ptr<Channel>(std::make_unique<NbdChannel>(std::move(h), can_zero_));
  }

 private:
  Result<std::unique_ptr<Handle>> connect() {
    auto h = std::make_unique<Handle>();
    if (o_.verbose) h->set_debug(true);
    // Every byte we read is overwritten by the server's reply; zeroing first only costs time.
    h->set_pread_initialize(false);
    // The user typed the URI: its tls-certificates= and tls-psk-file= are theirs to name.
    h->set_uri_allow_local_file(true);
    (void)h->add_meta_context("base:allocation");
    auto st = argv_.empty() ? h->connect_uri(uri_) : h->connect_systemd_socket_activation(argv_);
    if (!st) return make_error(st.error().errnum, name_ + ": " + st.error().message);
    return h;
  }

  std::string name_, uri_;
  std::vector<std::string> argv_;
  EndpointOptions o_;
  std::unique_ptr<Handle> first_;
  uint64_t size_ = 0;
  bool can_extents_ = false, can_zero_ = false, remote_ = false;
  unsigned max_channels_ = 1;
  uint32_t preferred_ = 0, max_request_ = 0;
};

}  // namespace

Result<std::unique_ptr<Endpoint>> open_nbd_endpoint(const std::string& uri, Role role,
                                                    const EndpointOptions& opts) {
  auto ep = std::make_unique<NbdEndpoint>(uri, uri, std::vector<std::string>{}, opts);
  NBD_TRY(ep->open_first(role));
  return std::unique_ptr<Endpoint>(std::move(ep));
}

Result<std::unique_ptr<Endpoint>> open_nbd_command_endpoint(const std::vector<std::string>& argv, Role role,
                                                            const EndpointOptions& opts) {
  std::string name = argv.empty() ? "[ ]" : argv[0];
  auto ep = std::make_unique<NbdEndpoint>(name, "", argv, opts);
  NBD_TRY(ep->open_first(role));
  return std::unique_ptr<Endpoint>(std::move(ep));
}

}  // namespace nbd::copy
