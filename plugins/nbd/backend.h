// SPDX-License-Identifier: BSD-3-Clause
// One connection to the NBD server the nbd plugin forwards to, on our client library. Any
// number of threads issue requests at once: each queues an asynchronous command and sleeps
// until its reply; one thread per backend drives the socket. A backend that dies fails the
// requests in flight and every later one with its error. A request the server leaves
// unanswered for timeout= seconds cuts the connection, which fails every request in flight.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "nbd/client.h"
#include "nbd/plugin.h"
#include "nbd/result.h"

namespace nbd::plugins::nbd_proxy {

// Where the server is and how to talk to it (the plugin's parameters).
struct Target {
  std::string uri, socket, hostname, port = "10809", vsock;
  std::vector<std::string> command;  // command= then each arg=
  int socket_fd = -1;
  std::string export_name;
  client::TlsMode tls = client::TlsMode::Disable;
  std::string tls_certificates, tls_username, tls_psk;
  int tls_verify = -1;       // -1: the library's default
  unsigned retry = 0;        // more tries, a second apart, if the first connect fails
  uint32_t timeout_s = 300;  // a request unanswered this long cuts the connection (timeout=)
};

class Backend {
 public:
  // Connects (with the retries asked for) to export_name, or to target's export if it is null.
  static Result<std::unique_ptr<Backend>> connect(const Target& target, const std::string* export_name);
  // The server's exports (NBD_OPT_LIST over a connection of its own, which is then abandoned).
  static Result<std::vector<ExportInfo>> list_exports(const Target& target);
  ~Backend();
  Backend(const Backend&) = delete;
  Backend& operator=(const Backend&) = delete;

  client::Handle& handle() { return *h_; }

  // Each queues one command and waits for its reply. flags are NBD command flags.
  Status pread(std::span<std::byte> buf, uint64_t offset, uint32_t flags);
  Status pwrite(std::span<const std::byte> buf, uint64_t offset, uint32_t flags);
  Status flush();
  Status trim(uint64_t count, uint64_t offset, uint32_t flags);
  Status zero(uint64_t count, uint64_t offset, uint32_t flags);
  Status cache(uint64_t count, uint64_t offset);
  Status extents(uint64_t count, uint64_t offset, uint32_t flags, ExtentList& out);

 private:
  Backend() = default;
  Status start();
  void drive();  // the socket thread
  void wake();
  template <class Submit>
  Status run(Submit submit);

  std::unique_ptr<client::Handle> h_;
  uint32_t timeout_s_ = 300;
  std::atomic<bool> timed_out_{false};  // the connection was cut by timeout=
  int wake_fd_ = -1;                    // eventfd: a command was queued, or stop
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace nbd::plugins::nbd_proxy
