// SPDX-License-Identifier: BSD-3-Clause
// serve(): see server.h.
#include "server/server.h"

#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <map>
#include <optional>
#include <thread>

#include "common/subprocess.h"
#include "nbd/log.h"
#include "server/cabi/cabi.h"
#include "server/listen.h"
#include "server/session.h"
#include "server/threads.h"

namespace nbd::server {
namespace {

int g_wake[2] = {-1, -1};

void on_signal(int sig) {
  char c = sig == SIGCHLD ? 'c' : 'q';
  int saved = errno;
  [[maybe_unused]] ssize_t r = ::write(g_wake[1], &c, 1);
  errno = saved;
}

void install_signals() {
  if (pipe2(g_wake, O_CLOEXEC | O_NONBLOCK) < 0) std::abort();
  struct sigaction sa = {};
  sa.sa_handler = on_signal;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  for (int s : {SIGINT, SIGTERM, SIGQUIT, SIGHUP, SIGCHLD}) sigaction(s, &sa, nullptr);
}

// Live client connections, so shutdown can wake and wait for them.
class Clients {
 public:
  void add(uint64_t id, int fd) {
    std::lock_guard l(mu_);
    fds_[id] = fd;
  }
  void remove(uint64_t id) {
    std::lock_guard l(mu_);
    fds_.erase(id);
    cv_.notify_all();
  }
  // Wakes every session (its reads return EOF) and waits up to `limit` for them to end.
  bool shutdown_and_wait(std::chrono::seconds limit) {
    std::unique_lock l(mu_);
    for (auto& [id, fd] : fds_) ::shutdown(fd, SHUT_RDWR);
    return cv_.wait_for(l, limit, [&] { return fds_.empty(); });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<uint64_t, int> fds_;
};

Status write_pidfile(const std::string& path) {
  std::string tmp = path + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "w");
  if (!f) return make_error(errno, "-P " + path + ": " + std::strerror(errno));
  std::fprintf(f, "%d\n", int(getpid()));
  std::fclose(f);
  // rename() makes the file appear complete, so a waiter never reads an empty pidfile.
  if (std::rename(tmp.c_str(), path.c_str()) < 0)
    return make_error(errno, "-P " + path + ": " + std::strerror(errno));
  return ok();
}

Status change_user(const Options& o) {
  if (!o.group.empty()) {
    struct group* g = getgrnam(o.group.c_str());
    gid_t gid = g ? g->gr_gid : gid_t(std::strtoul(o.group.c_str(), nullptr, 10));
    if ((!g && !std::isdigit(static_cast<unsigned char>(o.group[0]))) || setgid(gid) < 0)
      return make_error(EINVAL, "-g " + o.group + ": cannot change group");
    setgroups(1, &gid);
  }
  if (!o.user.empty()) {
    struct passwd* p = getpwnam(o.user.c_str());
    uid_t uid = p ? p->pw_uid : uid_t(std::strtoul(o.user.c_str(), nullptr, 10));
    if ((!p && !std::isdigit(static_cast<unsigned char>(o.user[0]))) || setuid(uid) < 0)
      return make_error(EINVAL, "-u " + o.user + ": cannot change user");
  }
  return ok();
}

// The --run command: sh -c with $uri and friends set, the TLS secrets of our own
// environment kept from it.
// $tls is upstream's: unset when TLS is off, "1" for --tls=on, "2" for --tls=require.
Result<Subprocess> start_run(const Options& o, const Listeners& l, int tls_level) {
  std::string uri = l.uri(o.exportname, tls_level == 2);
  Program c = Program::shell(o.run);
  c.set_env = {"uri=" + uri, "nbd=" + uri, "port=" + (l.unix_path.empty() ? l.port : std::string()),
               "unixsocket=" + l.unix_path, "exportname=" + o.exportname};
  if (tls_level)
    c.set_env.push_back("tls=" + std::to_string(tls_level));
  else
    c.unset_env = {"tls"};
  return Subprocess::start(c);
}

void tune_socket(int fd, const Options& o) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // fails harmlessly on Unix sockets
  if (o.keepalive) setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
  // A Unix socket's send buffer (about 200 KiB by default) is smaller than one 256 KiB read
  // reply, so each reply would go out in pieces, a wait and a wake-up each (the client does the
  // same for its writes, src/client/transport.cc). The kernel caps it at wmem_max; TCP keeps
  // its own tuning.
  sockaddr_storage sa{};
  socklen_t len = sizeof sa;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) == 0 && sa.ss_family == AF_UNIX) {
    int size = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  }
}

// Returns the exit status: 0 on a signal, the command's status when --run ends.
int accept_loop(ServerContext& ctx, const Listeners& l, Subprocess* run, Clients& clients) {
  std::vector<pollfd> p;
  p.push_back({g_wake[0], POLLIN, 0});
  for (int fd : l.fds) p.push_back({fd, POLLIN, 0});
  uint64_t next_id = 1;
  bool out_of_fds = false;  // the last accept failed for want of fds or memory
  time_t last_complaint = 0;
  for (;;) {
    // With a --run command, also look every second: its SIGCHLD was seen lost under TSan (the
    // child a zombie, the server asleep in poll), and a lost wake-up must not hang the server.
    // Out of fds, the listeners stay readable and accept keeps failing: leave them out of the
    // poll for 100 ms rather than spin, until a client leaves and frees one.
    int n = out_of_fds ? ::poll(p.data(), 1, 100) : ::poll(p.data(), p.size(), run ? 1000 : -1);
    if (out_of_fds) {
      out_of_fds = false;
      for (size_t i = 1; i < p.size(); ++i) p[i].revents = 0;
    }
    if (n < 0 && errno != EINTR) return 1;
    bool check_run = run && n == 0;
    if (p[0].revents) {
      char c;
      while (::read(g_wake[0], &c, 1) == 1) {
        if (c == 'q') return 0;
        check_run = run != nullptr;
      }
    }
    if (check_run) {
      auto done = run->wait_for(0);
      if (done && *done) {
        int st = **done;
        if (WIFSIGNALED(st)) {
          log::error("external command was killed by signal %d", WTERMSIG(st));
          return 128 + WTERMSIG(st);
        }
        return WEXITSTATUS(st);
      }
    }
    for (size_t i = 1; i < p.size(); ++i) {
      if (!(p[i].revents & POLLIN)) continue;
      int fd = accept4(p[i].fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
          out_of_fds = true;
          if (time_t now = ::time(nullptr); now - last_complaint >= 10) {
            log::error("accept: %s: new clients wait until a connection closes (raise ulimit -n?)",
                       strerror(errno));
            last_complaint = now;
          }
        }
        continue;
      }
      tune_socket(fd, ctx.opts);
      log::debug("accepted connection");
      uint64_t id = next_id++;
      clients.add(id, fd);
      ServerThread([&ctx, &clients, fd, id] {
        {
          Session s(ctx, fd, fd, id);
          s.run();
        }
        clients.remove(id);
        ::close(fd);
      }).detach();
    }
  }
}

int finish(Backend& backend, Clients& clients, Listeners& l, int status) {
  l.close_and_remove();
  nbd::begin_shutdown();  // sleeping plugins and filters give up at once
  if (!clients.shutdown_and_wait(std::chrono::seconds(10))) {
    log::error("clients did not finish within 10 seconds; exiting anyway");
    _exit(status);
  }
  backend.unload();
  return status;
}

// -s: one session on stdin/stdout, no accept loop; SIGINT/SIGTERM keep their default action (exit).
int serve_single(ServerContext& ctx) {
  if (Status s = ctx.backend.after_fork(); !s) return log::error("%s", s.error().message.c_str()), 1;
  { Session(ctx, 0, 1, 1).run(); }
  ctx.backend.unload();
  return 0;
}

void log_listeners(const Listeners& l) {
  if (l.activated)
    log::debug("using socket activation: %zu socket(s)", l.fds.size());
  else if (!l.unix_path.empty())
    log::debug("bound to unix socket %s", l.unix_path.c_str());
  else
    log::debug("bound to port %s: %zu socket(s)", l.port.c_str(), l.fds.size());
}

// Without -f, and unless something waits on us in the foreground (--run, -U -,
// --exit-with-parent, socket activation), the parent exits and the child serves.
// Returns false if fork failed.
bool go_to_background(const Options& o, const Listeners& l) {
  if (o.foreground || !o.run.empty() || o.unix_socket == "-" || o.exit_with_parent || l.activated)
    return true;
  if (const std::string& go = cabi::go_runtime_plugin(); !go.empty())
    return log::error(
               "%s is written in Go, whose runtime does not survive nbdkit forking into the "
               "background: run nbdkit with -f (or --run, -U -, --exit-with-parent)",
               go.c_str()),
           false;
  pid_t pid = fork();
  if (pid < 0) return log::error("fork: %s", std::strerror(errno)), false;
  if (pid > 0) _exit(0);
  setsid();
  log::debug("forked into background (new pid = %d)", int(getpid()));
  int null = ::open("/dev/null", O_RDWR);
  if (null >= 0) dup2(null, 0), dup2(null, 1), ::close(null);
  return true;
}

// What runs once we are the serving process, before the first accept: after_fork, the
// pidfile, --print-uri and the --run command (returned, if there is one).
Result<std::optional<Subprocess>> start_serving(const Options& o, Backend& backend, const Listeners& l,
                                                int tls_level) {
  NBD_TRY(backend.after_fork());
  if (!o.pidfile.empty()) NBD_TRY(write_pidfile(o.pidfile));
  if (o.print_uri) {
    std::printf("%s\n", l.uri(o.exportname, tls_level == 2).c_str());
    std::fflush(stdout);
  }
  if (o.run.empty()) return std::optional<Subprocess>();
  auto r = start_run(o, l, tls_level);
  if (!r) return make_error(r.error().errnum, "--run: " + r.error().message);
  return std::optional<Subprocess>(std::move(*r));
}

}  // namespace

int serve(const Options& o, Backend& backend) {
  signal(SIGPIPE, SIG_IGN);
  if (o.exit_with_parent) prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (o.swap && mlockall(MCL_CURRENT | MCL_FUTURE) < 0)
    return log::error("--swap: mlockall: %s", std::strerror(errno)), 1;
  auto tls = ServerTls::create(o);
  if (!tls) return log::error("%s", tls.error().message.c_str()), 1;
  ServerContext ctx{backend, o, backend.thread_model()};
  ctx.tls = tls->get();
  int tls_level = ctx.tls ? ctx.tls->level() : 0;
  log::debug("using thread model: %s", thread_model_name(ctx.model));
  if (o.single) return serve_single(ctx);
  install_signals();
  auto l = open_listeners(o);
  if (!l) return log::error("%s", l.error().message.c_str()), 1;
  log_listeners(*l);
  // Before going into the background, as upstream, so a bad -u/-g fails the command itself.
  if (Status s = change_user(o); !s) {
    log::error("%s", s.error().message.c_str());
    l->close_and_remove();
    backend.unload();
    return 1;
  }
  if (!go_to_background(o, *l)) return 1;
  Clients clients;
  auto run = start_serving(o, backend, *l, tls_level);
  if (!run) return log::error("%s", run.error().message.c_str()), finish(backend, clients, *l, 1);
  Subprocess* command = *run ? &**run : nullptr;
  int status = accept_loop(ctx, *l, command, clients);
  // A signal stopped us while the command still runs: it goes down with us.
  if (command && command->running()) command->terminate(-1);
  return finish(backend, clients, *l, status);
}

}  // namespace nbd::server
