// SPDX-License-Identifier: BSD-3-Clause
// pause filter: holds new requests while paused and releases them on resume, driven by
// single-letter commands on a Unix control socket (pause-control=), like upstream's
// nbdkit-pause-filter; for taking snapshots of the storage below.
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>

#include "nbd/filter.h"
#include "nbd/log.h"

namespace nbd::filters {
namespace {

// The gate every request passes, shared by all connections.
class Gate {
 public:
  // Waits while paused. A held request gives up with ESHUTDOWN when the server shuts down
  // (nanosleep notices that), so a pause never keeps the server from exiting.
  Status enter() {
    std::unique_lock l(mu_);
    while (paused_) {
      if (cv_.wait_for(l, std::chrono::milliseconds(50), [&] { return !paused_; })) break;
      l.unlock();
      NBD_TRY(nbd::nanosleep(1));
      l.lock();
    }
    ++in_flight_;
    return ok();
  }
  void leave() {
    std::lock_guard l(mu_);
    if (--in_flight_ == 0) cv_.notify_all();
  }
  // Returns once the requests that entered before the pause have finished.
  void pause() {
    std::unique_lock l(mu_);
    paused_ = true;
    cv_.wait(l, [&] { return in_flight_ == 0; });
  }
  void resume() {
    std::lock_guard l(mu_);
    paused_ = false;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool paused_ = false;
  uint64_t in_flight_ = 0;
};

// Runs one request through the gate: it waits while paused and counts as in flight.
template <class F>
Status through(Gate& g, F&& f) {
  NBD_TRY(g.enter());
  struct Leave {
    Gate& g;
    ~Leave() { g.leave(); }  // also when f throws (the core turns that into EIO)
  } leave{g};
  return f();
}

class PauseConnection final : public FilterConnection {
 public:
  PauseConnection(std::unique_ptr<Connection> next, Gate& g) : FilterConnection(std::move(next)), g_(g) {}

  Status pread(std::span<std::byte> buf, uint64_t offset, uint32_t flags) override {
    return through(g_, [&] { return next().pread(buf, offset, flags); });
  }
  Status pwrite(std::span<const std::byte> buf, uint64_t offset, uint32_t flags) override {
    return through(g_, [&] { return next().pwrite(buf, offset, flags); });
  }
  Status flush(uint32_t flags) override {
    return through(g_, [&] { return next().flush(flags); });
  }
  Status trim(uint64_t count, uint64_t offset, uint32_t flags) override {
    return through(g_, [&] { return next().trim(count, offset, flags); });
  }
  Status zero(uint64_t count, uint64_t offset, uint32_t flags) override {
    return through(g_, [&] { return next().zero(count, offset, flags); });
  }
  Status extents(uint64_t count, uint64_t offset, uint32_t flags, ExtentList& out) override {
    return through(g_, [&] { return next().extents(count, offset, flags, out); });
  }
  Status cache(uint64_t count, uint64_t offset, uint32_t flags) override {
    return through(g_, [&] { return next().cache(count, offset, flags); });
  }

 private:
  Gate& g_;
};

class PauseFilter final : public Filter {
 public:
  ~PauseFilter() override { stop(); }

  Result<bool> config(std::string_view key, std::string_view value) override {
    if (key != "pause-control") return false;
    if (value.empty() || value.size() >= sizeof(sockaddr_un{}.sun_path))
      return make_error(EINVAL, "pause: pause-control=" + std::string(value) +
                                    ": the socket path must be 1 to 107 bytes long");
    path_ = value;
    return true;
  }
  Status config_complete() override {
    if (path_.empty()) return make_error(EINVAL, "pause: the pause-control=SOCKET parameter is required");
    return ok();
  }
  // The socket exists before the server accepts clients, so a script may connect at once.
  Status get_ready(ThreadModel) override {
    listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listen_fd_ < 0) return errno_error("pause: socket");
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::memcpy(a.sun_path, path_.data(), path_.size());
    ::unlink(path_.c_str());  // a socket left behind by an earlier run, as upstream
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) < 0)
      return errno_error("pause: pause-control=" + path_ + ": bind");
    bound_ = true;
    if (::listen(listen_fd_, 4) < 0) return errno_error("pause: listen");
    return ok();
  }
  // Threads do not survive the server's fork into the background, so the control thread
  // starts here.
  Status after_fork() override {
    if (::pipe2(wake_, O_CLOEXEC) < 0) return errno_error("pause: pipe");
    control_ = std::thread([this] { control_loop(); });
    return ok();
  }
  Result<std::unique_ptr<Connection>> open(const OpenParams& params, const NextOpen& next) override {
    NBD_TRY_ASSIGN(auto below, next(params));
    return std::unique_ptr<Connection>(std::make_unique<PauseConnection>(std::move(below), gate_));
  }
  void unload() override { stop(); }

 private:
  // One control client at a time, as upstream: each byte is a command, answered at once.
  void control_loop() {
    for (;;) {
      int c = wait_readable(listen_fd_) ? ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC) : -1;
      if (stopping()) {
        if (c >= 0) ::close(c);
        return;
      }
      if (c < 0) continue;
      serve(c);
      ::close(c);
    }
  }
  void serve(int c) {
    char cmds[64];
    while (wait_readable(c)) {
      ssize_t n = ::read(c, cmds, sizeof cmds);
      if (n <= 0) return;
      for (ssize_t i = 0; i < n; ++i) {
        char reply;
        switch (cmds[i]) {
          case 'p': gate_.pause(), reply = 'P'; break;
          case 'r': gate_.resume(), reply = 'R'; break;
          case '\n': continue;  // so that `echo p | nc -U SOCKET` works
          default: reply = 'X'; break;
        }
        if (::send(c, &reply, 1, MSG_NOSIGNAL) != 1) return;
      }
    }
  }
  // False when the filter is stopping.
  bool wait_readable(int fd) {
    pollfd p[2] = {{fd, POLLIN, 0}, {wake_[0], POLLIN, 0}};
    while (::poll(p, 2, -1) < 0)
      if (errno != EINTR) return false;
    return !p[1].revents;
  }
  bool stopping() {
    pollfd p{wake_[0], POLLIN, 0};
    return ::poll(&p, 1, 0) > 0;
  }
  void stop() {
    if (control_.joinable()) {
      [[maybe_unused]] ssize_t r = ::write(wake_[1], "q", 1);
      control_.join();
    }
    gate_.resume();
    for (int* fd : {&listen_fd_, &wake_[0], &wake_[1]})
      if (*fd >= 0) ::close(*fd), *fd = -1;
    if (bound_) ::unlink(path_.c_str()), bound_ = false;
  }

  std::string path_;
  Gate gate_;
  int listen_fd_ = -1;
  int wake_[2] = {-1, -1};
  bool bound_ = false;
  std::thread control_;
};

constexpr ParamHelp kParams[] = {
    {"pause-control",
     "pause-control=<SOCKET>  Unix socket for pause (p) and resume (r) commands (required)."},
};

}  // namespace

extern const FilterInfo pause_filter_info;
const FilterInfo pause_filter_info{
    .name = "pause",
    .description = "nbdkit pause filter: pause and resume NBD requests",
    .params = kParams,
    .factory = [] { return std::unique_ptr<Filter>(std::make_unique<PauseFilter>()); },
};

}  // namespace nbd::filters
