// SPDX-License-Identifier: BSD-3-Clause
// The least work a client can do to copy one NBD export to another: read replies' payloads go
// from the source socket into a pipe and on to the destination socket with splice, so this
// process never touches a byte of data (no zero detection, no copy into user memory). The
// bench runs it beside nbdcopy on the same servers: if it is no faster, the client is not
// what sets the copy's time. Not a tool for users: it stops at the first error.
//
//     splice_copy SOURCE.sock DESTINATION.sock [CONNECTIONS [REQUESTS [REQUEST_SIZE]]]
//
// Defaults match our nbdcopy's on two cores: 2 connections to each server, 4 requests of
// 1 MiB in flight on each.
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <semaphore>
#include <string>
#include <thread>
#include <vector>

#include "nbd/protocol.h"

namespace {

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "splice_copy: %s\n", what.c_str());
  std::exit(1);
}

[[noreturn]] void fail_errno(const std::string& what) { fail(what + ": " + std::strerror(errno)); }

void recv_all(int fd, void* buf, size_t n) {
  auto* p = static_cast<char*>(buf);
  while (n > 0) {
    ssize_t r = ::recv(fd, p, n, MSG_WAITALL);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) fail_errno("recv");
    if (r == 0) fail("server closed the connection");
    p += r;
    n -= size_t(r);
  }
}

void send_all(int fd, const void* buf, size_t n) {
  auto* p = static_cast<const char*>(buf);
  while (n > 0) {
    ssize_t r = ::send(fd, p, n, MSG_NOSIGNAL);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) fail_errno("send");
    p += r;
    n -= size_t(r);
  }
}

namespace proto = nbd::protocol;

template <typename T>
T check(nbd::Result<T> r, const std::string& what) {
  if (!r) fail(what + ": " + r.error().message);
  return *std::move(r);
}

// Connects, negotiates the default export with NBD_OPT_GO (simple replies only), returns the
// socket and sets *size.
int connect_export(const std::string& path, uint64_t* size) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) fail_errno("socket");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) fail("socket path too long: " + path);
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) fail_errno("connect " + path);
  int sndbuf = 4 << 20;  // as our client sets on Unix sockets
  (void)::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);

  std::byte hello[proto::kNewstyleHandshakeSize];
  recv_all(fd, hello, sizeof hello);
  const uint16_t server_flags = proto::get_u16(hello + 16);
  if (proto::get_u64(hello) != proto::kNbdMagic || proto::get_u64(hello + 8) != proto::kIHaveOpt ||
      !(server_flags & proto::kFlagFixedNewstyle))
    fail(path + ": not a fixed-newstyle NBD server");
  std::byte cflags[4];
  proto::put_u32(cflags, proto::kClientFlagFixedNewstyle | (server_flags & proto::kFlagNoZeroes));
  send_all(fd, cflags, sizeof cflags);

  std::vector<std::byte> go;
  const auto payload = proto::encode_info_request({});  // the default export, no info requests
  proto::encode_option_header(go, uint32_t(proto::Option::Go), uint32_t(payload.size()));
  go.insert(go.end(), payload.begin(), payload.end());
  send_all(fd, go.data(), go.size());
  bool have_size = false;
  for (;;) {
    std::byte rep[proto::kOptionReplyHeaderSize];
    recv_all(fd, rep, sizeof rep);
    auto h = check(proto::decode_option_reply_header(rep), path);
    if (h.length > proto::kMaxOptionLength) fail(path + ": option reply too long");
    std::vector<std::byte> data(h.length);
    if (h.length) recv_all(fd, data.data(), h.length);
    if (h.type & proto::kRepFlagError) fail(path + ": NBD_OPT_GO refused");
    if (h.type == proto::kRepInfo) {
      auto info = check(proto::decode_info(data), path);
      if (info.type == proto::kInfoExport) {
        *size = info.export_size;
        have_size = true;
      }
    }
    if (h.type == proto::kRepAck) break;
  }
  if (!have_size) fail(path + ": no export size");
  return fd;
}

void send_request(int fd, proto::Command type, uint64_t offset, uint32_t length) {
  std::byte req[proto::kRequestSize];
  // The cookie is the offset.
  proto::encode_request(req, {0, uint16_t(type), offset, offset, length}, false);
  send_all(fd, req, sizeof req);
}

// Reads one simple reply header; returns its cookie.
uint64_t recv_reply(int fd, const char* side) {
  std::byte rep[proto::kSimpleReplySize];
  recv_all(fd, rep, sizeof rep);
  auto h = check(proto::decode_reply_header(rep), side);
  if (h.magic != proto::kSimpleReplyMagic) fail(std::string(side) + ": not a simple reply");
  if (h.error) fail(std::string(side) + ": request failed, NBD error " + std::to_string(h.error));
  return h.cookie;
}

// Copies [start, end) over one connection to each server.
void copy_range(const std::string& src_path, const std::string& dst_path, uint64_t start, uint64_t end,
                unsigned requests, uint32_t request_size) {
  uint64_t src_size, dst_size;
  int src = connect_export(src_path, &src_size);
  int dst = connect_export(dst_path, &dst_size);
  if (dst_size < end || src_size < end) fail("export smaller than expected");
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) fail_errno("pipe2");
  (void)::fcntl(pipefd[1], F_SETPIPE_SZ, int(request_size));
  const uint64_t count = (end - start + request_size - 1) / request_size;
  auto length_at = [&](uint64_t off) { return uint32_t(std::min<uint64_t>(request_size, end - off)); };

  std::counting_semaphore<1024> window(requests);  // requests read but not yet written
  std::thread issuer([&] {
    for (uint64_t off = start; off < end; off += request_size) {
      window.acquire();
      send_request(src, proto::Command::Read, off, length_at(off));
    }
  });
  std::thread acks([&] {
    for (uint64_t i = 0; i < count; ++i) {
      recv_reply(dst, "destination");
      window.release();
    }
  });
  for (uint64_t i = 0; i < count; ++i) {
    const uint64_t off = recv_reply(src, "source");
    if (off < start || off >= end || (off - start) % request_size) fail("source: unknown cookie");
    const uint32_t len = length_at(off);
    send_request(dst, proto::Command::Write, off, len);
    for (size_t left = len; left > 0;) {
      ssize_t in = ::splice(src, nullptr, pipefd[1], nullptr, left, SPLICE_F_MOVE);
      if (in < 0 && errno == EINTR) continue;
      if (in <= 0) fail_errno("splice from the source");
      left -= size_t(in);
      for (size_t out = size_t(in); out > 0;) {
        ssize_t r = ::splice(pipefd[0], nullptr, dst, nullptr, out, SPLICE_F_MOVE);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) fail_errno("splice to the destination");
        out -= size_t(r);
      }
    }
  }
  issuer.join();
  acks.join();
  send_request(src, proto::Command::Disc, 0, 0);
  send_request(dst, proto::Command::Disc, 0, 0);
  for (int fd : {src, dst, pipefd[0], pipefd[1]}) ::close(fd);
}

unsigned number(const char* text, const char* what) {
  char* end;
  unsigned long v = std::strtoul(text, &end, 10);
  if (*end || v == 0 || v > 1024) fail(std::string("bad ") + what + ": " + text);
  return unsigned(v);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3 || argc > 6)
    fail("usage: splice_copy SOURCE.sock DESTINATION.sock [CONNECTIONS [REQUESTS [KIB]]]");
  const unsigned connections = argc > 3 ? number(argv[3], "connections") : 2;
  const unsigned requests = argc > 4 ? number(argv[4], "requests") : 4;
  const uint32_t request_size = (argc > 5 ? number(argv[5], "request size") : 1024) * 1024;
  uint64_t size;
  int probe = connect_export(argv[1], &size);  // the size, to split it between the connections
  send_request(probe, proto::Command::Disc, 0, 0);
  ::close(probe);
  const uint64_t share = (size / connections + request_size - 1) / request_size * request_size;
  std::vector<std::thread> workers;
  for (unsigned i = 0; i < connections; ++i) {
    uint64_t start = std::min<uint64_t>(size, i * share), end = std::min<uint64_t>(size, start + share);
    if (start < end)
      workers.emplace_back(copy_range, std::string(argv[1]), std::string(argv[2]), start, end, requests,
                           request_size);
  }
  for (auto& t : workers) t.join();
  return 0;
}
