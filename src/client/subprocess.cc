// SPDX-License-Identifier: BSD-3-Clause
// Servers the handle starts itself: connect_command (the server talks on its stdin/stdout)
// and systemd socket activation (LISTEN_FDS=1, the listening socket as fd 3). The child is
// killed if needed and reaped when the handle closes.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "client/impl.h"

extern char** environ;

namespace nbd::client {

namespace {

// argv as the char* array exec wants; built before fork so the child only execs.
struct Argv {
  std::vector<std::string> strings;
  std::vector<char*> ptrs;
  explicit Argv(const std::vector<std::string>& a) : strings(a) {
    for (auto& s : strings) ptrs.push_back(s.data());
    ptrs.push_back(nullptr);
  }
};

Status check_argv(Handle::Impl& h, const std::vector<std::string>& argv) {
  if (argv.empty() || argv[0].empty()) return h.fail(EINVAL, "the command to run is empty");
  return ok();
}

// Writes the decimal pid into buf (async-signal-safe: used in the child after fork).
void put_pid(char* buf, pid_t pid) {
  char tmp[16];
  int n = 0;
  do {
    tmp[n++] = char('0' + pid % 10);
    pid /= 10;
  } while (pid > 0);
  while (n > 0) *buf++ = tmp[--n];
  *buf = '\0';
}

bool wait_exit(pid_t pid, int timeout_ms) {
  int pidfd = int(syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) return false;
  pollfd p{pidfd, POLLIN, 0};
  int r = ::poll(&p, 1, timeout_ms);
  ::close(pidfd);
  return r > 0;
}

}  // namespace

void Handle::Impl::reap_child() {
  if (child_pid > 0) {
    // A socket-activated server keeps listening after we hang up, so it is told to stop;
    // a command server sees end of file on stdin and exits by itself (killed if it hangs).
    if (child_is_activated) kill(child_pid, SIGTERM);
    if (!wait_exit(child_pid, 10000)) kill(child_pid, SIGKILL);
    while (waitpid(child_pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    child_pid = -1;
  }
  if (!activation_dir.empty()) {
    unlink((activation_dir + "/sock").c_str());
    rmdir(activation_dir.c_str());
    activation_dir.clear();
  }
}

// Forks and execs argv (with envp, or our environment when null) after setup() has arranged
// the child's descriptors; setup runs in the child, so it may only make async-signal-safe
// calls. A close-on-exec pipe tells the parent whether exec worked, so "no such command"
// is reported as that rather than as a server that never answers.
template <class Setup>
static Result<pid_t> spawn(Handle::Impl& h, const std::vector<std::string>& argv, char* const* ptrs,
                           char* const* envp, Setup setup) {
  int ep[2];
  if (pipe2(ep, O_CLOEXEC) < 0) return h.fail(errno, "pipe: %s", strerror(errno));
  pid_t pid = fork();
  if (pid < 0) {
    int err = errno;
    ::close(ep[0]);
    ::close(ep[1]);
    return h.fail(err, "fork: %s", strerror(err));
  }
  if (pid == 0) {
    int err = setup() ? 0 : errno;
    if (err == 0) {
      signal(SIGPIPE, SIG_DFL);
      if (envp) execvpe(ptrs[0], ptrs, envp);
      else execvp(ptrs[0], ptrs);
      err = errno;
    }
    (void)!::write(ep[1], &err, sizeof err);
    _exit(127);
  }
  ::close(ep[1]);
  int err = 0;
  ssize_t n;
  do {
    n = ::read(ep[0], &err, sizeof err);
  } while (n < 0 && errno == EINTR);
  ::close(ep[0]);
  if (n == ssize_t(sizeof err)) {
    waitpid(pid, nullptr, 0);
    // The handle is dead, as it would be once the server we never started "hung up".
    h.set_dead(err, "cannot run '%s': %s", argv[0].c_str(), strerror(err));
    return h.last_error();
  }
  return pid;
}

static Status start_command(Handle::Impl& h, const std::vector<std::string>& argv) {
  NBD_TRY(check_argv(h, argv));
  Argv a(argv);
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
    return h.fail(errno, "socketpair: %s", strerror(errno));
  auto pid = spawn(h, argv, a.ptrs.data(), nullptr, [&] {
    // dup2 clears close-on-exec on the new descriptors.
    return dup2(sv[1], 0) >= 0 && dup2(sv[1], 1) >= 0;
  });
  if (!pid) {
    ::close(sv[0]);
    ::close(sv[1]);
    return std::move(pid).error();
  }
  ::close(sv[1]);
  h.child_pid = *pid;
  h.debugf("started command %s as pid %d", argv[0].c_str(), int(*pid));
  return start_fd(h, sv[0]);
}

static Result<int> make_activation_socket(Handle::Impl& h, std::string& path) {
  const char* tmp = getenv("TMPDIR");
  std::string templ = std::string(tmp && *tmp ? tmp : "/tmp") + "/libnbdXXXXXX";
  if (!mkdtemp(templ.data())) return h.fail(errno, "mkdtemp: %s", strerror(errno));
  h.activation_dir = templ;
  path = templ + "/sock";
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  if (path.size() >= sizeof sun.sun_path) return h.fail(ENAMETOOLONG, "socket path too long: %s", path.c_str());
  memcpy(sun.sun_path, path.c_str(), path.size() + 1);
  int s = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) return h.fail(errno, "socket: %s", strerror(errno));
  if (bind(s, reinterpret_cast<sockaddr*>(&sun), sizeof sun) < 0 || listen(s, SOMAXCONN) < 0) {
    int err = errno;
    ::close(s);
    return h.fail(err, "bind/listen %s: %s", path.c_str(), strerror(err));
  }
  return s;
}

static Status start_activation(Handle::Impl& h, const std::vector<std::string>& argv) {
  NBD_TRY(check_argv(h, argv));
  Argv a(argv);
  std::string path;
  NBD_TRY_ASSIGN(int s, make_activation_socket(h, path));
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e)
    if (strncmp(*e, "LISTEN_", 7) != 0) env.emplace_back(*e);
  env.emplace_back("LISTEN_FDS=1");
  env.emplace_back("LISTEN_FDNAMES=nbd");
  env.emplace_back("LISTEN_PID=" + std::string(16, '\0'));
  Argv envp(env);
  char* pid_slot = envp.ptrs[env.size() - 1] + strlen("LISTEN_PID=");
  auto pid = spawn(h, argv, a.ptrs.data(), envp.ptrs.data(), [&] {
    if (s == 3) {
      if (fcntl(3, F_SETFD, 0) < 0) return false;
    } else if (dup2(s, 3) < 0) {
      return false;
    }
    put_pid(pid_slot, getpid());
    return true;
  });
  if (!pid) {
    ::close(s);
    return std::move(pid).error();
  }
  ::close(s);
  h.child_pid = *pid;
  h.child_is_activated = true;
  h.debugf("started socket-activated %s as pid %d on %s", argv[0].c_str(), int(*pid), path.c_str());
  return start_unix(h, path);
}

Status Handle::aio_connect_command(const std::vector<std::string>& argv) {
  NBD_HANDLE_LOCK;
  NBD_TRY(before_connect(*impl_, "nbd_aio_connect_command"));
  return start_command(*impl_, argv);
}
Status Handle::connect_command(const std::vector<std::string>& argv) {
  NBD_HANDLE_LOCK;
  NBD_TRY(before_connect(*impl_, "nbd_connect_command"));
  NBD_TRY(start_command(*impl_, argv));
  return wait_connected(*impl_);
}
Status Handle::aio_connect_systemd_socket_activation(const std::vector<std::string>& argv) {
  NBD_HANDLE_LOCK;
  NBD_TRY(before_connect(*impl_, "nbd_aio_connect_systemd_socket_activation"));
  return start_activation(*impl_, argv);
}
Status Handle::connect_systemd_socket_activation(const std::vector<std::string>& argv) {
  NBD_HANDLE_LOCK;
  NBD_TRY(before_connect(*impl_, "nbd_connect_systemd_socket_activation"));
  NBD_TRY(start_activation(*impl_, argv));
  return wait_connected(*impl_);
}

}  // namespace nbd::client
