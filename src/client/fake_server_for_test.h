// SPDX-License-Identifier: BSD-3-Clause
// A scripted fake NBD server on a socketpair, for the client state machine tests: the script
// runs in its own thread and plays the server's side byte by byte.
#pragma once

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <functional>
#include <thread>

#include "fixtures/socket_bytes.h"
#include "nbd/client.h"
#include "nbd/protocol.h"

namespace nbd::client::testing {

using namespace nbd::protocol;
using Bytes = std::vector<std::byte>;

// The server side of a socketpair, driven by a script in its own thread.
class FakeServer {
 public:
  explicit FakeServer(std::function<void(FakeServer&)> script) {
    int sv[2];
    NBD_ASSERT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    fd_ = sv[0];
    client_fd = sv[1];
    thread_ = std::thread([this, script] {
      script(*this);
      // Like a real server, stay until the client hangs up.
      char buf[256];
      while (::read(fd_, buf, sizeof buf) > 0) {
      }
      ::shutdown(fd_, SHUT_RDWR);
    });
  }
  ~FakeServer() {
    thread_.join();
    ::close(fd_);
  }
  bool check_one_option_at_a_time = false;  // set before the client connects
  std::atomic<int> options_sent_too_early{0};
  void send(const Bytes& b) { (void)!::write(fd_, b.data(), b.size()); }
  void send_raw(const char* s, size_t n) { (void)!::write(fd_, s, n); }
  void hangup() { ::shutdown(fd_, SHUT_RDWR); }
  // Reads exactly n bytes (or fewer at end of stream).
  Bytes recv(size_t n) { return nbd::testing::read_exact(fd_, n); }
  // Fixed newstyle handshake; answers options until GO, then returns. Unknown options get
  // NBD_REP_ERR_UNSUP. Structured replies and base:allocation (id 7) are accepted.
  void newstyle(uint64_t size, uint16_t flags, bool structured = true) {
    send(encode_newstyle_handshake(kFlagFixedNewstyle | kFlagNoZeroes));
    recv(4);
    for (;;) {
      auto oh = decode_option_header(recv(kOptionHeaderSize));
      if (!oh) return;
      Bytes payload = recv(oh->length);
      if (check_one_option_at_a_time) {
        // The spec forbids a client to send an option before the final reply to the previous
        // one: anything readable now (within 100 ms) was sent too early.
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, 100) > 0) ++options_sent_too_early;
      }
      Bytes out;
      if (oh->option == uint32_t(Option::Go)) {
        encode_option_reply(out, oh->option, kRepInfo, encode_info_export(size, flags | kFlagHasFlags));
        encode_option_reply(out, oh->option, kRepAck, {});
        send(out);
        return;
      }
      if (oh->option == uint32_t(Option::StructuredReply) && structured) {
        encode_option_reply(out, oh->option, kRepAck, {});
      } else if (oh->option == uint32_t(Option::SetMetaContext) && structured) {
        encode_option_reply(out, oh->option, kRepMetaContext, encode_rep_meta_context(7, "base:allocation"));
        encode_option_reply(out, oh->option, kRepAck, {});
      } else {
        encode_option_reply(out, oh->option, kRepErrUnsup, {});
      }
      send(out);
    }
  }
  Request request() {
    auto r = decode_request(recv(kRequestSize), false);
    return r ? *r : Request{};
  }
  void simple_reply(uint64_t cookie, uint32_t error, const Bytes& data = {}) {
    Bytes b(kSimpleReplySize);
    encode_simple_reply(b.data(), cookie, error);
    b.insert(b.end(), data.begin(), data.end());
    send(b);
  }
  void chunk(uint64_t cookie, uint16_t flags, uint16_t type, const Bytes& payload) {
    Bytes b(kStructuredReplySize);
    encode_chunk_header(b.data(), false, flags, type, cookie, 0, payload.size());
    b.insert(b.end(), payload.begin(), payload.end());
    send(b);
  }
  int client_fd = -1;

 private:
  int fd_ = -1;
  std::thread thread_;
};

inline Bytes bytes(const char* s) {
  Bytes b(strlen(s));
  memcpy(b.data(), s, b.size());
  return b;
}

inline Bytes data_payload(uint64_t offset, const Bytes& data) {
  Bytes b(8);
  put_u64(b.data(), offset);
  b.insert(b.end(), data.begin(), data.end());
  return b;
}

}  // namespace nbd::client::testing
