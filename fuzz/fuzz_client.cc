// SPDX-License-Identifier: BSD-3-Clause
// Fuzz target: the client library's handshake and reply decoders (simple, structured and
// extended replies, block status, option replies) fed arbitrary server bytes over a socketpair.
// input[0] picks what the client asks for (bit 0 structured replies, bit 1 extended headers,
// bit 2 base:allocation, bit 3 opt mode with LIST and LIST_META_CONTEXT before GO); the rest is
// the whole server side of the conversation, after which the "server" hangs up. The client then
// runs a fixed list of commands; every error is fine, a crash or sanitizer report is a finding.
// Recorded sessions with a real server make the seed corpus (fuzz/make-corpus.sh).
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <thread>
#include <vector>

#include "nbd/client.h"

namespace {

// What the client asks for in the handshake, before it connects.
void configure(nbd::client::Handle& h, uint8_t config) {
  (void)h.set_request_structured_replies(config & 1);
  (void)h.set_request_extended_headers(config & 2);
  (void)h.set_request_meta_context(config & 4);
  if (config & 4) (void)h.add_meta_context("base:allocation");
  (void)h.set_full_info(true);
  (void)h.set_opt_mode(config & 8);
}

// The commands each run sends once connected, in this order (the corpus is recorded with them).
void exercise(nbd::client::Handle& h, uint8_t config) {
  if (config & 8) {
    (void)h.opt_list([](std::string_view, std::string_view) { return 0; });
    (void)h.opt_list_meta_context([](std::string_view) { return 0; });
    if (!h.opt_go()) return;
  }
  (void)h.get_size();
  (void)h.get_export_description();
  std::vector<std::byte> buf(8192);
  (void)h.pread(std::span(buf).first(4096), 0);
  (void)h.pread_structured(std::span(buf), 4096,
                           [](std::span<const std::byte>, uint64_t, unsigned, int*) { return 0; });
  (void)h.block_status(65536, 0,
                       [](std::string_view, uint64_t, std::span<const uint32_t>, int*) { return 0; });
  (void)h.block_status_64(65536, 0,
                          [](std::string_view, uint64_t, std::span<const nbd::Extent>, int*) { return 0; });
  (void)h.pwrite(std::span(buf).first(512), 512);
  (void)h.flush();
  (void)h.zero(4096, 8192);
  (void)h.trim(4096, 8192);
  (void)h.shutdown();
}

}  // namespace

// Live mode for fuzz/make-corpus.sh (`fuzz_client_replay --live CONFIG URI`): the same commands
// against a real server through a recording proxy, so a seed is a real server's side of them.
extern "C" int fuzz_live(uint8_t config, const char* uri) {
  nbd::client::Handle h;
  configure(h, config);
  if (!h.connect_uri(uri)) return 1;
  exercise(h, config);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  signal(SIGPIPE, SIG_IGN);
  uint8_t config = data[0];
  ++data;
  --size;
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return 0;
  int server = sv[0];
  std::thread writer([&] {
    for (size_t off = 0; off < size;) {
      ssize_t n = ::write(server, data + off, size - off);
      if (n <= 0) break;
      off += size_t(n);
    }
    ::shutdown(server, SHUT_WR);
  });
  std::thread drain([&] {
    char buf[65536];
    while (::read(server, buf, sizeof buf) > 0) {
    }
  });
  {
    nbd::client::Handle h;
    configure(h, config);
    if (h.connect_socket(sv[1])) exercise(h, config);
  }  // the handle closes its socket: the drain sees EOF
  writer.join();
  drain.join();
  ::close(server);
  return 0;
}
