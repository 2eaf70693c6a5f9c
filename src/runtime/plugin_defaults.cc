// SPDX-License-Identifier: BSD-3-Clause
// Default method bodies of Connection, Plugin and ExtentList (include/nbd/plugin.h).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <vector>

#include "nbd/plugin.h"

namespace nbd {
namespace {
// Readable once the server begins shutting down (nothing ever reads it), so every nanosleep
// can poll it beside its client's socket.
int g_shutdown_pipe[2] = {-1, -1};
std::once_flag g_shutdown_once;
int shutdown_fd() {
  std::call_once(g_shutdown_once, [] {
    if (pipe2(g_shutdown_pipe, O_CLOEXEC | O_NONBLOCK) < 0) std::abort();
  });
  return g_shutdown_pipe[0];
}
std::atomic<bool> g_shutting_down{false};
thread_local int t_client_fd = -1;

// Every DebugFlag alive in the process. Flags are defined at namespace scope, so they register
// during static initialisation (or dlopen) and leave at exit (or dlclose).
std::mutex& flags_mu() {
  static std::mutex mu;
  return mu;
}
std::vector<DebugFlag*>& flags() {
  static std::vector<DebugFlag*> v;
  return v;
}
}  // namespace

DebugFlag::DebugFlag(std::string_view name, std::string_view flag, int initial)
    : name_(name), flag_(flag), value_(initial) {
  std::lock_guard lock(flags_mu());
  flags().push_back(this);
}

DebugFlag::~DebugFlag() {
  std::lock_guard lock(flags_mu());
  std::erase(flags(), this);
}

DebugFlag* find_debug_flag(std::string_view name, std::string_view flag) {
  std::lock_guard lock(flags_mu());
  for (DebugFlag* f : flags())
    if (f->name() == name && f->flag() == flag) return f;
  return nullptr;
}

Status nanosleep(uint64_t ns) {
  using clock = std::chrono::steady_clock;
  const auto end = clock::now() + std::chrono::nanoseconds(ns);
  pollfd p[2] = {{shutdown_fd(), POLLIN, 0}, {t_client_fd, POLLRDHUP, 0}};
  for (;;) {
    if (g_shutting_down) return make_error(ESHUTDOWN, "the server is shutting down");
    auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(end - clock::now()).count();
    if (left <= 0) return ok();
    timespec ts{time_t(left / 1'000'000'000), long(left % 1'000'000'000)};
    int n = ::ppoll(p, t_client_fd >= 0 ? 2 : 1, &ts, nullptr);
    if (n < 0 && errno != EINTR) return make_error(errno, "nanosleep: poll failed");
    if (n > 0 && p[0].revents) return make_error(ESHUTDOWN, "the server is shutting down");
    if (n > 0 && (p[1].revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)))
      return make_error(ESHUTDOWN, "the client disconnected");
  }
}

void begin_shutdown() {
  int fd = shutdown_fd();
  (void)fd;
  if (g_shutting_down.exchange(true)) return;
  [[maybe_unused]] ssize_t r = ::write(g_shutdown_pipe[1], "q", 1);
}

void shutdown_server() { ::kill(::getpid(), SIGTERM); }

void disconnect_client(bool force) {
  if (t_client_fd < 0) return;
  // Without force, only the reading side closes: the reader sees end of input, requests in
  // flight finish and their replies still go out, then the connection closes.
  ::shutdown(t_client_fd, force ? SHUT_RDWR : SHUT_RD);
}

ClientScope::ClientScope(int fd) : saved_(t_client_fd) { t_client_fd = fd; }
ClientScope::~ClientScope() { t_client_fd = saved_; }

const char* thread_model_name(ThreadModel m) {
  switch (m) {
    case ThreadModel::SerializeConnections: return "serialize_connections";
    case ThreadModel::SerializeAllRequests: return "serialize_all_requests";
    case ThreadModel::SerializeRequests: return "serialize_requests";
    case ThreadModel::Parallel: return "parallel";
  }
  return "unknown";
}

void ExtentList::reset(uint64_t start, uint64_t end) {
  start_ = next_ = start;
  end_ = end;
  extents_.clear();
}

Status ExtentList::add(uint64_t offset, uint64_t length, uint64_t flags) {
  if (length == 0) return ok();
  if (offset + length < offset) return make_error(EINVAL, "extent overflows");
  // Extents are reported from the plugin's natural boundaries, so the first one may begin
  // before start; it must still cover start.
  if (extents_.empty() && next_ == start_) {
    if (offset > start_) return make_error(EINVAL, "first extent begins after the requested offset");
  } else if (offset != next_) {
    return make_error(EINVAL, "extents must be added in ascending, contiguous order");
  }
  uint64_t end = offset + length;
  if (end <= start_) return ok();  // wholly before the range
  if (next_ >= end_) {
    next_ = end;
    return ok();  // wholly past the range
  }
  uint64_t b = std::max(offset, start_);
  uint64_t e = std::min(end, end_);
  if (!extents_.empty() && extents_.back().flags == flags &&
      extents_.back().offset + extents_.back().length == b) {
    extents_.back().length += e - b;
  } else {
    extents_.push_back({b, e - b, flags});
  }
  next_ = end;
  return ok();
}

Status Connection::pwrite(std::span<const std::byte>, uint64_t, uint32_t) {
  return make_error(EROFS, "this export does not support writes");
}
Status Connection::flush(uint32_t) { return make_error(EINVAL, "this export does not support flush"); }
Status Connection::trim(uint64_t, uint64_t, uint32_t) {
  return make_error(EINVAL, "this export does not support trim");
}
Result<bool> Connection::can_fast_zero() {
  NBD_TRY_ASSIGN(ZeroMode z, can_zero());
  return z == ZeroMode::Emulate;
}
Status Connection::zero(uint64_t, uint64_t, uint32_t) {
  return make_error(ENOTSUP, "this export does not support zero");
}
Status Connection::extents(uint64_t count, uint64_t offset, uint32_t, ExtentList& extents) {
  return extents.add(offset, count, 0);
}
Status Connection::cache(uint64_t, uint64_t, uint32_t) {
  return make_error(EINVAL, "this export does not support cache");
}

Status Plugin::config(std::string_view key, std::string_view) {
  return make_error(EINVAL, "unknown parameter '" + std::string(key) + "'");
}

Result<std::vector<ExportInfo>> Plugin::list_exports(bool, bool) {
  return std::vector<ExportInfo>{ExportInfo{"", ""}};
}

}  // namespace nbd
