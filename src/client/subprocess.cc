// SPDX-License-Identifier: BSD-3-Clause
// Servers the handle starts itself: connect_command (the server talks on its stdin/stdout)
// and systemd socket activation (LISTEN_FDS=1, the listening socket as fd 3). The child is
// killed if needed and reaped when the handle closes.
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "client/impl.h"
#include "common/fd.h"

namespace nbd::client {

void Handle::Impl::reap_child() {
  if (child) {
    // A socket-activated server keeps listening after we hang up, so it is told to stop;
    // a command server sees end of file on stdin and exits by itself (killed if it hangs).
    // Still running after that: reset() kills and reaps it.
    if (child_is_activated)
      (void)child->terminate(10000);
    else
      (void)child->wait_for(10000);
    child.reset();
  }
  activation_dir.remove();
}

// "No such command" is reported as that, rather than as a server that never answers; the
// handle is dead, as it would be once the server we never started "hung up".
static Status spawn(Handle::Impl& h, const Program& c) {
  auto p = Subprocess::start(c);
  if (!p) {
    h.set_dead(p.error().errnum, "cannot run '%s': %s", c.argv.empty() ? "" : c.argv[0].c_str(),
               strerror(p.error().errnum));
    return h.last_error();
  }
  h.child = std::move(*p);
  return ok();
}

static Status check_argv(Handle::Impl& h, const std::vector<std::string>& argv) {
  if (argv.empty() || argv[0].empty()) return h.fail(EINVAL, "the command to run is empty");
  return ok();
}

static Status start_command(Handle::Impl& h, const std::vector<std::string>& argv) {
  NBD_TRY(check_argv(h, argv));
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
    return h.fail(errno, "socketpair: %s", strerror(errno));
  Fd mine(sv[0]), theirs(sv[1]);
  Program c;
  c.argv = argv;
  c.in = c.out = Redirect::from_fd(theirs.get());
  NBD_TRY(spawn(h, c));
  h.debugf("started command %s as pid %d", argv[0].c_str(), int(h.child->pid()));
  return start_fd(h, mine.release());
}

static Result<int> make_activation_socket(Handle::Impl& h, std::string& path) {
  auto dir = TempDir::create("libnbd");
  if (!dir) return h.fail(dir.error().errnum, "%s", dir.error().message.c_str());
  h.activation_dir = std::move(*dir);
  path = h.activation_dir.file("sock");
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  if (path.size() >= sizeof sun.sun_path)
    return h.fail(ENAMETOOLONG, "socket path too long: %s", path.c_str());
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
  std::string path;
  NBD_TRY_ASSIGN(int s, make_activation_socket(h, path));
  Fd listener(s);
  Program c;
  c.argv = argv;
  c.set_env = {"LISTEN_FDS=1", "LISTEN_FDNAMES=nbd"};
  c.pid_env = "LISTEN_PID";
  c.extra_fds = {{listener.get(), 3}};
  NBD_TRY(spawn(h, c));
  h.child_is_activated = true;
  h.debugf("started socket-activated %s as pid %d on %s", argv[0].c_str(), int(h.child->pid()), path.c_str());
  return start_unix(h, path);
}

Status Handle::aio_connect_command(const std::vector<std::string>& argv) {
  NBD_HANDLE_CALL("nbd_aio_connect_command");
  NBD_TRY(before_connect(*impl_));
  return start_command(*impl_, argv);
}
Status Handle::connect_command(const std::vector<std::string>& argv) {
  NBD_HANDLE_CALL("nbd_connect_command");
  NBD_TRY(before_connect(*impl_));
  NBD_TRY(start_command(*impl_, argv));
  return wait_connected(*impl_);
}
Status Handle::aio_connect_systemd_socket_activation(const std::vector<std::string>& argv) {
  NBD_HANDLE_CALL("nbd_aio_connect_systemd_socket_activation");
  NBD_TRY(before_connect(*impl_));
  return start_activation(*impl_, argv);
}
Status Handle::connect_systemd_socket_activation(const std::vector<std::string>& argv) {
  NBD_HANDLE_CALL("nbd_connect_systemd_socket_activation");
  NBD_TRY(before_connect(*impl_));
  NBD_TRY(start_activation(*impl_, argv));
  return wait_connected(*impl_);
}

}  // namespace nbd::client
