// SPDX-License-Identifier: BSD-3-Clause
// Measures this machine's limits in the same run as the benchmarks, so each figure in bench/
// can be read as a share of what is possible: memory copy bandwidth, and the throughput of one
// Unix stream socket (one writer thread, one reader thread, 1 MiB writes and reads).
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>
#include <vector>

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double memcpy_mib_s() {
  const size_t n = 256u << 20;
  std::vector<char> a(n, 1), b(n, 2);
  auto t0 = std::chrono::steady_clock::now();
  int rounds = 0;
  while (seconds_since(t0) < 1.0) {
    std::memcpy(b.data(), a.data(), n);
    ++rounds;
  }
  volatile char sink = b[size_t(rounds) % n];
  (void)sink;
  return rounds * double(n) / (1 << 20) / seconds_since(t0);
}

double unix_socket_mib_s() {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return 0;
  const size_t chunk = 1 << 20;
  const uint64_t total = 8ull << 30;
  std::thread writer([&] {
    std::vector<char> buf(chunk, 'x');
    uint64_t sent = 0;
    while (sent < total) {
      ssize_t r = write(sv[0], buf.data(), chunk);
      if (r <= 0) break;
      sent += uint64_t(r);
    }
    close(sv[0]);
  });
  std::vector<char> buf(chunk);
  uint64_t got = 0;
  auto t0 = std::chrono::steady_clock::now();
  for (;;) {
    ssize_t r = read(sv[1], buf.data(), chunk);
    if (r <= 0) break;
    got += uint64_t(r);
  }
  double s = seconds_since(t0);
  writer.join();
  close(sv[1]);
  return double(got) / (1 << 20) / s;
}

}  // namespace

int main() {
  std::printf("memcpy_mib_s %.0f\n", memcpy_mib_s());
  std::printf("unix_socket_mib_s %.0f\n", unix_socket_mib_s());
  return 0;
}
