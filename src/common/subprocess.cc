// SPDX-License-Identifier: BSD-3-Clause
// Subprocess: posix_spawn (vfork-fast even from a server with gigabytes mapped), descriptors
// moved above every target first so no dup2 clobbers another, and reaping on destruction.
#include "common/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "common/fd.h"

extern char** environ;

namespace nbd {
namespace {

std::vector<char*> c_strings(std::vector<std::string>& v) {
  std::vector<char*> out;
  for (auto& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

std::string_view env_name(std::string_view kv) { return kv.substr(0, kv.find('=')); }

std::vector<std::string> child_env(const Program& c) {
  std::vector<std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string_view name = env_name(*e);
    auto same = [&](const std::string& x) { return env_name(x) == name; };
    if (std::none_of(c.set_env.begin(), c.set_env.end(), same) &&
        std::none_of(c.unset_env.begin(), c.unset_env.end(), same) && name != c.pid_env)
      env.emplace_back(*e);
  }
  env.insert(env.end(), c.set_env.begin(), c.set_env.end());
  return env;
}

// The file actions and attributes of one spawn; every descriptor the child gets has been
// duplicated to `base` or above first, so each dup2 onto 0..2 or an extra target is safe.
struct Spawn {
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  std::vector<Fd> temps;  // the parent's copies, closed once the child has its own
  int base = 3;

  explicit Spawn(const Program& c) {
    for (auto [from, to] : c.extra_fds) base = std::max(base, to + 1);
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    sigset_t none, deflt;
    sigemptyset(&none);
    sigemptyset(&deflt);
    // A server ignores SIGPIPE and catches the rest; a script's `yes | head` must behave normally.
    for (int s : {SIGPIPE, SIGINT, SIGTERM, SIGQUIT, SIGHUP, SIGCHLD}) sigaddset(&deflt, s);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &deflt);
    short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
    if (c.new_process_group) flags |= POSIX_SPAWN_SETPGROUP;
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(&attr, flags);
  }
  ~Spawn() {
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
  }
  Status give(int from, int to) {
    int high = ::fcntl(from, F_DUPFD_CLOEXEC, base);
    if (high < 0) return errno_error("dup");
    temps.emplace_back(high);
    posix_spawn_file_actions_adddup2(&fa, high, to);
    return ok();
  }
};

Status make_pipe(Fd& r, Fd& w) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) < 0) return errno_error("pipe");
  r = Fd(p[0]);
  w = Fd(p[1]);
  return ok();
}

// Sets up one of 0..2 in the child; a pipe's parent end goes to *mine.
Status redirect(Spawn& sp, const Redirect& r, int to, Fd& mine) {
  switch (r.kind) {
    case Redirect::Kind::Inherit: return ok();
    case Redirect::Kind::Null:
      posix_spawn_file_actions_addopen(&sp.fa, to, "/dev/null", to == 0 ? O_RDONLY : O_WRONLY, 0);
      return ok();
    case Redirect::Kind::Fd: return sp.give(r.fd, to);
    case Redirect::Kind::Pipe: {
      Fd rd, wr;
      NBD_TRY(make_pipe(rd, wr));
      NBD_TRY(sp.give(to == 0 ? rd.get() : wr.get(), to));
      mine = to == 0 ? std::move(wr) : std::move(rd);
      return ok();
    }
  }
  return ok();
}

// The argv actually spawned, argv[0] as the caller gave it (as execvp does). pid_env goes
// through a shell that sets it to its own pid (which the program keeps, as the shell execs
// it); the shell gets the program's path as $0, so it looks nothing up again.
std::vector<std::string> spawn_argv(const Program& c, const std::string& program) {
  if (c.pid_env.empty()) return c.argv;
  std::vector<std::string> sh = {"/bin/sh", "-c",
                                 c.pid_env + "=$$; export " + c.pid_env + "; exec \"$0\" \"$@\"", program};
  sh.insert(sh.end(), c.argv.begin() + 1, c.argv.end());
  return sh;
}

int wait_pidfd(pid_t pid, int timeout_ms) {
  int pidfd = int(::syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) return -1;
  pollfd p{pidfd, POLLIN, 0};
  int r;
  do {
    r = ::poll(&p, 1, timeout_ms);
  } while (r < 0 && errno == EINTR);
  ::close(pidfd);
  return r;
}

}  // namespace

Result<std::string> find_program(const std::string& name) {
  if (name.empty()) return make_error(EINVAL, "the command to run is empty");
  if (name.find('/') != std::string::npos) return name;
  const char* path = std::getenv("PATH");
  std::string_view dirs = path && *path ? path : "/usr/local/bin:/usr/bin:/bin";
  int err = ENOENT;
  for (size_t start = 0; start <= dirs.size();) {
    size_t end = std::min(dirs.find(':', start), dirs.size());
    std::string dir(dirs.substr(start, end - start));
    std::string full = (dir.empty() ? "." : dir) + "/" + name;
    if (::access(full.c_str(), X_OK) == 0) return full;
    if (errno == EACCES) err = EACCES;
    start = end + 1;
  }
  return errno_error(name, err);
}

Program Program::shell(std::string script, std::string shell) {
  Program c;
  c.argv = {std::move(shell), "-c", std::move(script)};
  return c;
}

Result<Subprocess> Subprocess::start(const Program& c) {
  if (c.argv.empty()) return make_error(EINVAL, "the command to run is empty");
  NBD_TRY_ASSIGN(std::string program, find_program(c.argv[0]));
  if (!c.pid_env.empty() && ::access(program.c_str(), X_OK) < 0) return errno_error(c.argv[0]);
  Spawn sp(c);
  Subprocess p;
  Fd mine[3];
  const Redirect* std_fds[3] = {&c.in, &c.out, &c.err};
  for (int i = 0; i < 3; ++i) NBD_TRY(redirect(sp, *std_fds[i], i, mine[i]));
  for (auto [from, to] : c.extra_fds) NBD_TRY(sp.give(from, to));
  posix_spawn_file_actions_addclosefrom_np(&sp.fa, sp.base);
  std::vector<std::string> args = spawn_argv(c, program), env = child_env(c);
  std::vector<char*> argv = c_strings(args), envp = c_strings(env);
  const std::string path = c.pid_env.empty() ? program : args[0];
  pid_t pid;
  int r = posix_spawn(&pid, path.c_str(), &sp.fa, &sp.attr, argv.data(), envp.data());
  if (r == ENOEXEC) {
    // As execvp: a file without "#!" is a shell script, run as `sh PATH ARGS...`.
    args.insert(args.begin(), "/bin/sh");
    args[1] = path;
    argv = c_strings(args);
    r = posix_spawn(&pid, "/bin/sh", &sp.fa, &sp.attr, argv.data(), envp.data());
  }
  if (r != 0) return errno_error(c.argv[0], r);
  p.pid_ = pid;
  p.group_ = c.new_process_group;
  for (int i = 0; i < 3; ++i) p.fds_[i] = mine[i].release();
  return p;
}

Subprocess::Subprocess(Subprocess&& o) noexcept { *this = std::move(o); }

Subprocess& Subprocess::operator=(Subprocess&& o) noexcept {
  if (this != &o) {
    reset();
    pid_ = std::exchange(o.pid_, -1);
    group_ = o.group_;
    for (int i = 0; i < 3; ++i) fds_[i] = std::exchange(o.fds_[i], -1);
  }
  return *this;
}

Subprocess::~Subprocess() { reset(); }

void Subprocess::reset() {
  for (int i = 0; i < 3; ++i) close_fd(i);
  if (pid_ > 0) {
    kill(SIGKILL);
    (void)wait();
  }
}

void Subprocess::close_fd(int i) {
  if (fds_[i] >= 0) ::close(fds_[i]);
  fds_[i] = -1;
}

void Subprocess::kill(int sig) const {
  if (pid_ > 0) ::kill(group_ ? -pid_ : pid_, sig);
}

Result<int> Subprocess::wait() {
  if (pid_ <= 0) return make_error(ECHILD, "wait: the program has already been reaped");
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0) {
    if (errno != EINTR) return errno_error("waitpid");
  }
  pid_ = -1;
  return status;
}

Result<std::optional<int>> Subprocess::wait_for(int timeout_ms) {
  if (pid_ <= 0) return make_error(ECHILD, "wait: the program has already been reaped");
  if (timeout_ms < 0) {
    NBD_TRY_ASSIGN(int status, wait());
    return std::optional<int>(status);
  }
  // Without pidfd (an old kernel) fall back to polling every 10 ms.
  for (int waited = 0;;) {
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return errno_error("waitpid");
    if (r == pid_) {
      pid_ = -1;
      return std::optional<int>(status);
    }
    if (waited >= timeout_ms) return std::optional<int>();
    int left = timeout_ms - waited;
    if (wait_pidfd(pid_, left) >= 0) {
      waited = timeout_ms;
    } else {
      timespec ts{0, 10 * 1000 * 1000};
      ::nanosleep(&ts, nullptr);
      waited += 10;
    }
  }
}

int Subprocess::terminate(int grace_ms) {
  if (pid_ <= 0) return 0;
  kill(SIGTERM);
  auto r = wait_for(grace_ms);
  if (r && *r) return **r;
  kill(SIGKILL);
  return wait().value_or(0);
}

std::string describe_wait_status(int st) {
  if (WIFEXITED(st)) return "exited with status " + std::to_string(WEXITSTATUS(st));
  if (WIFSIGNALED(st)) return "was killed by signal " + std::to_string(WTERMSIG(st));
  return "stopped with wait status " + std::to_string(st);
}

bool exited_ok(int st) { return WIFEXITED(st) && WEXITSTATUS(st) == 0; }

}  // namespace nbd
