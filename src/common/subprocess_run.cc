// SPDX-License-Identifier: BSD-3-Clause
// run(): one poll loop that writes stdin and drains stdout and stderr together, so large data
// never deadlocks either side, with an optional deadline and output limit.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>

#include "common/subprocess.h"

namespace nbd {
namespace {

constexpr size_t kMaxErr = 64 << 10;  // stderr kept for the error message

// Writes to a pipe whose reader has gone raise SIGPIPE in this thread; keep it blocked for
// the call and swallow any instance we caused, whatever the process disposition is.
class SigpipeBlock {
 public:
  SigpipeBlock() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
  }
  void swallow() {
    timespec zero{0, 0};
    while (sigtimedwait(&pipe_, nullptr, &zero) == SIGPIPE) {
    }
  }
  ~SigpipeBlock() { pthread_sigmask(SIG_SETMASK, &old_, nullptr); }

 private:
  sigset_t pipe_, old_;
};

class Pump {
 public:
  Pump(Subprocess& p, const RunOptions& o, RunResult& res) : p_(p), o_(o), res_(res) {}

  // Feeds and drains until all three pipes are closed or the output limit is reached; fails
  // on a poll error or at the deadline.
  Status loop() {
    using clock = std::chrono::steady_clock;
    auto deadline = clock::now() + std::chrono::milliseconds(o_.timeout_ms);
    if (o_.input.empty())
      p_.close_stdin();
    else
      ::fcntl(p_.stdin_fd(), F_SETFL, O_NONBLOCK);
    while (p_.stdin_fd() >= 0 || p_.stdout_fd() >= 0 || p_.stderr_fd() >= 0) {
      int wait_ms = -1;
      if (o_.timeout_ms >= 0) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()).count();
        if (left <= 0)
          return make_error(ETIMEDOUT,
                            "the program did not finish in " + std::to_string(o_.timeout_ms) + " ms");
        wait_ms = int(left);
      }
      pollfd fds[3] = {{p_.stdin_fd(), POLLOUT, 0}, {p_.stdout_fd(), POLLIN, 0}, {p_.stderr_fd(), POLLIN, 0}};
      if (::poll(fds, 3, wait_ms) < 0) {
        if (errno == EINTR) continue;
        return errno_error("poll");
      }
      if (fds[0].revents) feed();
      if (fds[1].revents && !drain_out()) p_.close_stdout();
      if (fds[2].revents && !drain_err()) p_.close_stderr();
      if (res_.out_truncated) break;
    }
    return ok();
  }

 private:
  void feed() {
    ssize_t n = ::write(p_.stdin_fd(), o_.input.data() + written_, o_.input.size() - written_);
    int e = n < 0 ? errno : 0;
    if (n > 0) written_ += size_t(n);
    if (e == EPIPE) block_.swallow();
    if ((e != 0 && e != EAGAIN && e != EINTR) || written_ == o_.input.size()) p_.close_stdin();
  }

  // Each returns false at end of file or on an error.
  bool drain_err() {
    ssize_t n = ::read(p_.stderr_fd(), buf_, sizeof buf_);
    if (n < 0) return errno == EINTR || errno == EAGAIN;
    size_t room = kMaxErr - std::min(kMaxErr, res_.err.size());
    res_.err.append(buf_, std::min(size_t(n), room));
    return n > 0;
  }

  bool drain_out() {
    size_t want = sizeof buf_;
    if (o_.stop_at_max_output) want = size_t(std::min<uint64_t>(want, o_.max_output - res_.out_bytes));
    ssize_t n = ::read(p_.stdout_fd(), buf_, want);
    if (n < 0) return errno == EINTR || errno == EAGAIN;
    if (n == 0) return false;
    size_t len = size_t(n);
    if (o_.fixed_output) {
      std::span<std::byte>& out = *o_.fixed_output;
      if (res_.out_bytes < out.size())
        std::memcpy(out.data() + res_.out_bytes, buf_, std::min<uint64_t>(len, out.size() - res_.out_bytes));
    } else if (res_.out.size() < o_.max_output) {
      res_.out.append(buf_, std::min<uint64_t>(len, o_.max_output - res_.out.size()));
    }
    res_.out_bytes += len;
    if (o_.stop_at_max_output && res_.out_bytes >= o_.max_output) res_.out_truncated = true;
    return true;
  }

  Subprocess& p_;
  const RunOptions& o_;
  RunResult& res_;
  SigpipeBlock block_;
  size_t written_ = 0;
  char buf_[65536];
};

}  // namespace

Result<RunResult> run(const Program& c, const RunOptions& o) {
  if (!o.input.empty() && c.in.kind != Redirect::Kind::Pipe)
    return make_error(EINVAL, "run: input given but stdin is not a pipe");
  NBD_TRY_ASSIGN(Subprocess p, Subprocess::start(c));
  RunResult res;
  Status pumped = Pump(p, o, res).loop();
  // A program cut short (limit, deadline) is killed, with its children when it leads a group,
  // before its pipes close: closed first, SIGPIPE could end it in a way the caller cannot tell
  // from finishing on its own.
  if (res.out_truncated || !pumped) p.kill(SIGKILL);
  p.close_stdin();
  p.close_stdout();
  p.close_stderr();
  NBD_TRY_ASSIGN(res.wait_status, p.wait());
  if (!pumped) return std::move(pumped).error();
  return res;
}

}  // namespace nbd
