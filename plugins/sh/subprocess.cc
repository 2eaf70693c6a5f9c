// SPDX-License-Identifier: BSD-3-Clause
// run_process: posix_spawn (vfork-fast even in a big server) plus one poll loop that writes
// stdin and drains stdout and stderr together, so neither side can block the other.
#include "plugins/sh/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>

extern char** environ;

namespace nbd::script {
namespace {

constexpr size_t kMaxText = 64 << 20;  // stdout kept as text (method output is small)
constexpr size_t kMaxErr = 64 << 10;   // stderr kept for the error message

Error sys_error(const std::string& what) {
  int e = errno;
  return make_error(e, what + ": " + std::strerror(e));
}

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) reset(), fd_ = o.fd_, o.fd_ = -1;
    return *this;
  }
  ~Fd() { reset(); }
  int get() const { return fd_; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

// Both ends close-on-exec and numbered 3 or above, so dup2 onto 0..2 in the child always
// produces a fresh descriptor without the flag (a server run with -s may have closed 0..2).
Status make_pipe(Fd& r, Fd& w) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) < 0) return sys_error("pipe");
  for (int& fd : p) {
    if (fd < 3) {
      int hi = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
      ::close(fd);
      fd = hi;
    }
  }
  r = Fd(p[0]);
  w = Fd(p[1]);
  if (r.get() < 0 || w.get() < 0) return sys_error("pipe");
  return ok();
}

std::vector<char*> c_strings(std::vector<std::string>& v) {
  std::vector<char*> out;
  for (auto& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

std::vector<std::string> build_env(const std::vector<std::string>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string_view kv(*e);
    bool replaced = std::any_of(extra.begin(), extra.end(), [&](const std::string& x) {
      size_t eq = x.find('=');
      return kv.size() > eq && kv.substr(0, eq + 1) == std::string_view(x).substr(0, eq + 1);
    });
    if (!replaced) env.emplace_back(kv);
  }
  env.insert(env.end(), extra.begin(), extra.end());
  return env;
}

struct Spawner {
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  Spawner(int in, int out, int err) {
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in, 0);
    posix_spawn_file_actions_adddup2(&fa, out, 1);
    posix_spawn_file_actions_adddup2(&fa, err, 2);
    // Client sockets and other plugins' files must not leak into scripts.
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    posix_spawnattr_init(&attr);
    sigset_t none, deflt;
    sigemptyset(&none);
    sigemptyset(&deflt);
    // The server ignores SIGPIPE; a script's `yes | head` must still behave normally.
    for (int s : {SIGPIPE, SIGINT, SIGTERM, SIGQUIT, SIGHUP, SIGCHLD}) sigaddset(&deflt, s);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &deflt);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  }
  ~Spawner() {
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
  }
};

Result<pid_t> spawn(const ProcessRequest& req, int in, int out, int err) {
  if (req.argv.empty()) return make_error(EINVAL, "run_process: empty argv");
  std::vector<std::string> args = req.argv, env = build_env(req.extra_env);
  std::vector<char*> argv = c_strings(args), envp = c_strings(env);
  Spawner sp(in, out, err);
  pid_t pid;
  int r = posix_spawn(&pid, argv[0], &sp.fa, &sp.attr, argv.data(), envp.data());
  if (r == ENOEXEC) {
    std::vector<std::string> sh_args = {"/bin/sh"};
    sh_args.insert(sh_args.end(), req.argv.begin(), req.argv.end());
    std::vector<char*> sh_argv = c_strings(sh_args);
    r = posix_spawn(&pid, "/bin/sh", &sp.fa, &sp.attr, sh_argv.data(), envp.data());
  }
  if (r != 0) return make_error(r, req.argv[0] + ": " + std::strerror(r));
  return pid;
}

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

// Reads what is available on fd; returns false at EOF or on error.
bool drain(int fd, const ProcessRequest& req, ProcessResult& res, bool is_err) {
  char buf[65536];
  ssize_t n = ::read(fd, buf, sizeof buf);
  if (n < 0) return errno == EINTR || errno == EAGAIN;
  if (n == 0) return false;
  size_t len = size_t(n);
  if (is_err) {
    res.err.append(buf, std::min(len, kMaxErr - std::min(kMaxErr, res.err.size())));
  } else if (req.fixed_output) {
    std::span<std::byte>& o = *req.fixed_output;
    if (res.out_bytes < o.size()) {
      size_t room = std::min<uint64_t>(len, o.size() - res.out_bytes);
      std::memcpy(o.data() + res.out_bytes, buf, room);
    }
    res.out_bytes += len;
  } else {
    res.out.append(buf, std::min(len, kMaxText - std::min(kMaxText, res.out.size())));
    res.out_bytes += len;
  }
  return true;
}

Status pump(const ProcessRequest& req, Fd& in, Fd& out, Fd& err, ProcessResult& res) {
  SigpipeBlock block;
  size_t written = 0;
  if (req.input.empty())
    in.reset();
  else
    ::fcntl(in.get(), F_SETFL, O_NONBLOCK);
  while (in.get() >= 0 || out.get() >= 0 || err.get() >= 0) {
    pollfd p[3] = {{in.get(), POLLOUT, 0}, {out.get(), POLLIN, 0}, {err.get(), POLLIN, 0}};
    if (::poll(p, 3, -1) < 0) {
      if (errno == EINTR) continue;
      return sys_error("poll");
    }
    if (p[0].revents) {
      ssize_t n = ::write(in.get(), req.input.data() + written, req.input.size() - written);
      int e = n < 0 ? errno : 0;
      if (n > 0) written += size_t(n);
      if (e == EPIPE) block.swallow();
      if ((e != 0 && e != EAGAIN && e != EINTR) || written == req.input.size()) in.reset();
    }
    if (p[1].revents && !drain(out.get(), req, res, false)) out.reset();
    if (p[2].revents && !drain(err.get(), req, res, true)) err.reset();
  }
  return ok();
}

}  // namespace

Result<ProcessResult> run_process(const ProcessRequest& req) {
  Fd in_r, in_w, out_r, out_w, err_r, err_w;
  NBD_TRY(make_pipe(in_r, in_w));
  NBD_TRY(make_pipe(out_r, out_w));
  NBD_TRY(make_pipe(err_r, err_w));
  NBD_TRY_ASSIGN(pid_t pid, spawn(req, in_r.get(), out_w.get(), err_w.get()));
  in_r.reset();
  out_w.reset();
  err_w.reset();
  ProcessResult res;
  Status pumped = pump(req, in_w, out_r, err_r, res);
  in_w.reset();
  out_r.reset();
  err_r.reset();
  while (::waitpid(pid, &res.wait_status, 0) < 0) {
    if (errno != EINTR) return sys_error("waitpid");
  }
  if (!pumped) return std::move(pumped).error();
  return res;
}

}  // namespace nbd::script
