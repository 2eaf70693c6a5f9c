// SPDX-License-Identifier: BSD-3-Clause
// exitwhen filter: exits gracefully when an event happens (a file is created or deleted, a
// pipe is closed, a process exits, a script says so), like upstream's nbdkit-exitwhen-filter.
// Once an event has been seen new clients are refused, and the server exits as soon as no
// client is connected. While idle a thread polls every exit-when-poll seconds.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "nbd/filter.h"
#include "nbd/log.h"
#include "nbd/parse.h"

namespace nbd::filters {
namespace {

struct Event {
  enum class Kind { FileCreated, FileDeleted, PipeClosed, ProcessExits, Script } kind;
  std::string arg;      // the file or script
  int64_t number = -1;  // the fd or pid
};

bool happened(const Event& e) {
  switch (e.kind) {
    case Event::Kind::FileCreated: return ::access(e.arg.c_str(), F_OK) == 0;
    case Event::Kind::FileDeleted: return ::access(e.arg.c_str(), F_OK) != 0 && errno == ENOENT;
    case Event::Kind::PipeClosed: {
      pollfd p{static_cast<int>(e.number), 0, 0};
      return ::poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR | POLLNVAL));
    }
    case Event::Kind::ProcessExits: return ::kill(static_cast<pid_t>(e.number), 0) == -1 && errno == ESRCH;
    case Event::Kind::Script: {
      int st = std::system(e.arg.c_str());
      if (st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 88) return true;
      if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        log::error("exitwhen: exit-when-script=%s failed (status %d); event not triggered", e.arg.c_str(),
                   st);
      return false;
    }
  }
  return false;
}

class ExitwhenFilter;

class ExitwhenConnection final : public FilterConnection {
 public:
  ExitwhenConnection(std::unique_ptr<Connection> next, ExitwhenFilter& f);
  ~ExitwhenConnection() override;

 private:
  ExitwhenFilter& f_;
};

class ExitwhenFilter final : public Filter {
 public:
  ~ExitwhenFilter() override { stop_thread(); }

  Result<bool> config(std::string_view key, std::string_view value) override {
    std::string what = std::string(key) + "=" + std::string(value);
    using K = Event::Kind;
    if (key == "exit-when-file-created" || key == "exit-when-file-deleted" || key == "exit-when-script") {
      if (value.empty()) return make_error(EINVAL, what + ": empty value");
      K k = key == "exit-when-file-created"   ? K::FileCreated
            : key == "exit-when-file-deleted" ? K::FileDeleted
                                              : K::Script;
      events_.push_back({k, std::string(value)});
    } else if (key == "exit-when-pipe-closed") {
      auto fd = parse_uint32(key, value);
      if (!fd || *fd > INT32_MAX || ::fcntl(int(*fd), F_GETFD) == -1)
        return make_error(EINVAL, what + ": not an open file descriptor");
      events_.push_back({K::PipeClosed, {}, *fd});
    } else if (key == "exit-when-process-exits") {
      auto pid = parse_uint32(key, value);
      if (!pid || *pid == 0 || *pid > INT32_MAX) return make_error(EINVAL, what + ": not a process ID");
      events_.push_back({K::ProcessExits, {}, *pid});
    } else if (key == "exit-when-poll") {
      auto secs = parse_uint32(key, value);
      if (!secs || *secs == 0) return make_error(EINVAL, what + ": expected a whole number of seconds > 0");
      poll_secs_ = *secs;
    } else {
      return false;
    }
    return true;
  }
  Status after_fork() override {
    if (events_.empty()) return ok();
    thread_ = std::thread([this] { idle_poll(); });
    return ok();
  }
  void unload() override { stop_thread(); }

  Status preconnect(const Peer& /*peer*/, bool /*readonly*/) override {
    if (events_.empty()) return ok();
    std::lock_guard l(mu_);
    if (check_locked()) return make_error(ESHUTDOWN, "exitwhen: exit event happened, connection rejected");
    return ok();
  }
  Result<std::unique_ptr<Connection>> open(const OpenParams& params, const NextOpen& next) override {
    if (events_.empty()) return next(params);
    NBD_TRY_ASSIGN(auto below, next(params));
    return std::unique_ptr<Connection>(std::make_unique<ExitwhenConnection>(std::move(below), *this));
  }

  void client_opened() {
    std::lock_guard l(mu_);
    ++clients_;
  }
  void client_closed() {
    std::lock_guard l(mu_);
    if (--clients_ == 0 && check_locked()) exit_now_locked();
  }

 private:
  // Sticky: once an event has been seen it stays seen (a file may be removed again).
  bool check_locked() {
    if (!triggered_)
      for (const Event& e : events_)
        if (happened(e)) {
          log::debug("exitwhen: exit event happened");
          triggered_ = true;
          break;
        }
    return triggered_;
  }
  void exit_now_locked() {
    if (exiting_) return;
    exiting_ = true;
    nbd::shutdown_server();
  }
  void idle_poll() {
    std::unique_lock l(mu_);
    while (!stop_) {
      if (clients_ == 0 && check_locked()) exit_now_locked();
      cv_.wait_for(l, std::chrono::seconds(poll_secs_), [this] { return stop_; });
    }
  }
  void stop_thread() {
    {
      std::lock_guard l(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  std::vector<Event> events_;  // written only while configuring
  uint32_t poll_secs_ = 60;
  std::mutex mu_;  // guards what follows, and serializes event checks (scripts)
  std::condition_variable cv_;
  uint64_t clients_ = 0;
  bool triggered_ = false, exiting_ = false, stop_ = false;
  std::thread thread_;
};

ExitwhenConnection::ExitwhenConnection(std::unique_ptr<Connection> next, ExitwhenFilter& f)
    : FilterConnection(std::move(next)), f_(f) {
  f_.client_opened();
}
ExitwhenConnection::~ExitwhenConnection() { f_.client_closed(); }

constexpr ParamHelp kParams[] = {
    {"exit-when-file-created", "exit-when-file-created=FILE  Exit when FILE is created."},
    {"exit-when-file-deleted", "exit-when-file-deleted=FILE  Exit when FILE is deleted."},
    {"exit-when-pipe-closed", "exit-when-pipe-closed=FD  Exit when the pipe on FD is closed."},
    {"exit-when-process-exits", "exit-when-process-exits=PID  Exit when process PID exits."},
    {"exit-when-script", "exit-when-script=SCRIPT  Exit when SCRIPT exits with status 88."},
    {"exit-when-poll", "exit-when-poll=SECS  Seconds between checks while idle (default 60)."},
};

}  // namespace

extern const FilterInfo exitwhen_filter_info;
const FilterInfo exitwhen_filter_info{
    .name = "exitwhen",
    .description = "nbdkit exitwhen filter: exit gracefully when an event occurs",
    .params = kParams,
    .factory = [] { return std::unique_ptr<Filter>(std::make_unique<ExitwhenFilter>()); },
};

}  // namespace nbd::filters
