// SPDX-License-Identifier: BSD-3-Clause
// A raw NBD client on a socketpair, for the server's Session tests: the mirror of
// src/client/fake_server_for_test.h. A real Session runs the other end in its own thread; the
// test writes handshake, option and transmission bytes and reads the server's replies.
#pragma once

#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <optional>
#include <string_view>
#include <thread>
#include <vector>

#include "fixtures/socket_bytes.h"
#include "nbd/protocol.h"
#include "server/backend.h"
#include "server/options.h"
#include "server/session.h"

namespace nbd::server::testing {

using Bytes = std::vector<std::byte>;

// One option reply as the server sent it.
struct OptionReply {
  uint32_t option = 0, type = 0;
  Bytes payload;
};

// One transmission reply, simple or a single structured/extended chunk. For a chunk, `error` is
// the NBD error of an ERROR chunk and `payload` the chunk's payload; for a simple reply to a
// read, `payload` is the `read_length` bytes that follow it.
struct Reply {
  protocol::ReplyHeader header;
  uint32_t error = 0;
  Bytes payload;
};

// Serves one Session of `backend` on a socketpair. The backend and the options outlive the
// client. SIGPIPE is ignored, as serve() does, so a reply to a hung-up test is an error and
// not the death of the test binary. What the server thread wrote (a fake disk's bytes, a
// recorded peer) is safe to read only after join() (ThreadSanitizer holds us to that).
class FakeClient {
 public:
  explicit FakeClient(Backend& backend, Options opts = {}, ThreadModel model = ThreadModel::Parallel)
      : opts_(std::move(opts)), ctx_(backend, opts_, model) {
    signal(SIGPIPE, SIG_IGN);
    int sv[2];
    NBD_ASSERT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    fd_ = sv[0];
    server_fd_ = sv[1];
    server_ = std::thread([this] {
      Session(ctx_, server_fd_, server_fd_, 1).run();
      ::shutdown(server_fd_, SHUT_RDWR);  // the test sees EOF once the session ends
    });
  }
  ~FakeClient() {
    join();
    ::close(fd_);
    ::close(server_fd_);
  }
  FakeClient(const FakeClient&) = delete;
  FakeClient& operator=(const FakeClient&) = delete;

  // Hangs up (if the session has not ended already) and waits for the server thread.
  void join() {
    if (!server_.joinable()) return;
    ::shutdown(fd_, SHUT_RDWR);
    server_.join();
  }

  // Writes every byte of b; false if the socket took fewer (the server hung up).
  bool send(const Bytes& b) { return ::write(fd_, b.data(), b.size()) == ssize_t(b.size()); }
  // Reads exactly n bytes, or fewer when the server closes the connection first.
  Bytes recv(size_t n) { return nbd::testing::read_exact(fd_, n); }
  // True when the server has closed the connection (nothing more to read).
  bool closed() { return recv(1).empty(); }

  // ---- handshake ----

  // Reads the fixed newstyle greeting and answers with `client_flags`; returns the server's
  // handshake flags, or nullopt if the greeting was not a newstyle one.
  std::optional<uint16_t> greet(uint32_t client_flags = protocol::kClientFlagFixedNewstyle |
                                                        protocol::kClientFlagNoZeroes) {
    Bytes g = recv(18);
    if (g.size() != 18 || protocol::get_u64(g.data()) != protocol::kNbdMagic ||
        protocol::get_u64(g.data() + 8) != protocol::kIHaveOpt)
      return std::nullopt;
    Bytes f(4);
    protocol::put_u32(f.data(), client_flags);
    send(f);
    return protocol::get_u16(g.data() + 16);
  }
  void send_option(uint32_t option, const Bytes& payload = {}) {
    Bytes b;
    protocol::encode_option_header(b, option, uint32_t(payload.size()));
    b.insert(b.end(), payload.begin(), payload.end());
    send(b);
  }
  // The next option reply; nullopt when the connection closed or the magic is wrong.
  std::optional<OptionReply> option_reply() {
    auto h = protocol::decode_option_reply_header(recv(protocol::kOptionReplyHeaderSize));
    if (!h) return std::nullopt;
    OptionReply r{h->option, h->type, recv(h->length)};
    if (r.payload.size() != h->length) return std::nullopt;
    return r;
  }
  // Replies to one option up to its final one (ACK or an error): the reply types in order.
  std::vector<uint32_t> option_reply_types() {
    std::vector<uint32_t> types;
    while (auto r = option_reply()) {
      types.push_back(r->type);
      if (r->type != protocol::kRepServer && r->type != protocol::kRepInfo &&
          r->type != protocol::kRepMetaContext)
        break;
    }
    return types;
  }
  // greet, then NBD_OPT_STRUCTURED_REPLY if asked, then NBD_OPT_GO for the default export.
  // Returns the export's size and transmission flags from NBD_INFO_EXPORT, or nullopt.
  std::optional<std::pair<uint64_t, uint16_t>> go(bool structured = false) {
    if (!greet()) return std::nullopt;
    if (structured) {
      send_option(uint32_t(protocol::Option::StructuredReply));
      if (option_reply_types() != std::vector<uint32_t>{protocol::kRepAck}) return std::nullopt;
    }
    send_option(uint32_t(protocol::Option::Go), protocol::encode_info_request({}));
    std::optional<std::pair<uint64_t, uint16_t>> info;
    while (auto r = option_reply()) {
      if (r->type == protocol::kRepAck) return info;
      if (r->type != protocol::kRepInfo) return std::nullopt;
      auto i = protocol::decode_info(r->payload);
      if (i && i->type == protocol::kInfoExport) info = {i->export_size, i->export_flags};
    }
    return std::nullopt;
  }

  // ---- transmission (compact headers) ----

  void send_request(const protocol::Request& r, const Bytes& payload = {}) {
    Bytes b(protocol::kRequestSize);
    protocol::encode_request(b.data(), r, false);
    b.insert(b.end(), payload.begin(), payload.end());
    send(b);
  }
  // The next reply: a simple one (followed by read_length bytes of data when it is not an
  // error) or one structured chunk; nullopt when the connection closed first.
  std::optional<Reply> reply(size_t read_length = 0) {
    Bytes magic = recv(4);
    if (magic.size() != 4) return std::nullopt;
    size_t hs = protocol::reply_header_size(protocol::get_u32(magic.data()));
    if (hs == 0) return std::nullopt;
    Bytes rest = recv(hs - 4);
    magic.insert(magic.end(), rest.begin(), rest.end());
    auto h = protocol::decode_reply_header(magic);
    if (!h) return std::nullopt;
    Reply r{*h, h->error, {}};
    if (h->magic == protocol::kSimpleReplyMagic) {
      if (h->error == 0) r.payload = recv(read_length);
      return r;
    }
    r.payload = recv(size_t(h->length));
    if (h->type == protocol::kReplyTypeError || h->type == protocol::kReplyTypeErrorOffset) {
      auto e = protocol::decode_error_payload(h->type, r.payload);
      r.error = e ? e->error : ~0u;
    }
    return r;
  }

 private:
  Options opts_;
  ServerContext ctx_;
  int fd_ = -1, server_fd_ = -1;
  std::thread server_;
};

}  // namespace nbd::server::testing
