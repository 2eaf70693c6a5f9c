// SPDX-License-Identifier: BSD-3-Clause
// ssh plugin: a file on any SSH server, read and written over SFTP (upstream's
// nbdkit-ssh-plugin), on libssh. Each NBD connection has its own SSH session; a request that
// outlives timeout= cuts it, so nothing waits without end.
#include <libssh/libssh.h>

#include <mutex>

#include "nbd/log.h"
#include "nbd/parse.h"
#include "nbd/plugin.h"
#include "plugins/ssh/session.h"

namespace nbd::plugins {
namespace {

using namespace ssh_plugin;

DebugFlag debug_log{"ssh", "log"};

class SshConnection final : public Connection {
 public:
  SshConnection(std::unique_ptr<Session> s, uint32_t timeout_s) : s_(std::move(s)), timeout_s_(timeout_s) {}

  Result<uint64_t> get_size() override { return s_->size(); }
  Result<bool> can_write() override { return true; }
  Result<bool> can_flush() override { return s_->can_fsync(); }
  Status pread(std::span<std::byte> buf, uint64_t offset, uint32_t) override {
    return guarded([&] { return s_->pread(buf, offset); });
  }
  Status pwrite(std::span<const std::byte> buf, uint64_t offset, uint32_t flags) override {
    return guarded([&]() -> Status {
      NBD_TRY(s_->pwrite(buf, offset));
      if ((flags & kFua) && s_->can_fsync()) return s_->fsync();
      return ok();
    });
  }
  Status flush(uint32_t) override {
    return guarded([&] { return s_->fsync(); });
  }
  Result<FuaMode> can_fua() override { return s_->can_fsync() ? FuaMode::Native : FuaMode::None; }

 private:
  template <class F>
  Status guarded(F&& f) {
    if (dead_)
      return make_error(EIO, "the SSH session was cut after a request took over " +
                                 std::to_string(timeout_s_) + " s (timeout=)");
    Deadline d(fd(), timeout_s_);
    Status st = f();
    if (d.expired()) {
      dead_ = true;
      return make_error(ETIMEDOUT, "an SSH request took over " + std::to_string(timeout_s_) +
                                       " s (timeout=): the session is cut");
    }
    return st;
  }
  int fd() const { return s_->socket_fd(); }

  std::unique_ptr<Session> s_;
  const uint32_t timeout_s_;
  bool dead_ = false;
};

Result<uint32_t> parse_mode(std::string_view v) {
  NBD_TRY_ASSIGN(uint64_t m, parse_uint64("create-mode", v));
  if (m > 07777)
    return make_error(EINVAL, "create-mode=" + std::string(v) + ": expected an octal mode like 0644");
  return static_cast<uint32_t>(m);
}

class SshPlugin final : public Plugin {
 public:
  SshPlugin() { ssh_init(); }
  ~SshPlugin() override { ssh_finalize(); }

  Status config(std::string_view key, std::string_view value) override {
    std::string v(value);
    if (key == "host") {
      c_.host = v;
    } else if (key == "path") {
      c_.path = v;
    } else if (key == "port") {
      c_.port = v;
    } else if (key == "user") {
      c_.user = v;
    } else if (key == "password") {
      NBD_TRY_ASSIGN(c_.password, read_password(key, value));
    } else if (key == "identity") {
      c_.identities.push_back(v);
    } else if (key == "known-hosts") {
      c_.known_hosts = v;
    } else if (key == "config") {
      c_.config_file = v;
    } else if (key == "verify-remote-host") {
      NBD_TRY_ASSIGN(c_.verify_remote_host, parse_bool(key, value));
    } else if (key == "compression") {
      NBD_TRY_ASSIGN(c_.compression, parse_bool(key, value));
    } else if (key == "create") {
      NBD_TRY_ASSIGN(c_.create, parse_bool(key, value));
    } else if (key == "create-size") {
      NBD_TRY_ASSIGN(c_.create_size, parse_size(key, value));
      have_create_size_ = true;
    } else if (key == "create-mode") {
      NBD_TRY_ASSIGN(c_.create_mode, parse_mode(value));
    } else if (key == "timeout") {
      NBD_TRY_ASSIGN(c_.timeout_s, parse_seconds(key, value));
    } else {
      return Plugin::config(key, value);
    }
    return ok();
  }

  Status config_complete() override {
    if (c_.host.empty()) return make_error(EINVAL, "host= is required (the SSH server)");
    if (c_.path.empty()) return make_error(EINVAL, "path= is required (the file on the server)");
    if (c_.create && !have_create_size_) return make_error(EINVAL, "create=true needs create-size=");
    if (!c_.create && have_create_size_) return make_error(EINVAL, "create-size= needs create=true");
    c_.log_level = debug_log.value();
    return ok();
  }

  // A wrong host key, a refused login or a missing file stop nbdkit at start with one line,
  // instead of failing every client later.
  Status get_ready() override { return Session::probe(c_); }

  // Libssh sessions are not thread-safe: one request at a time on each connection. (Parallel
  // requests taking turns on a lock measured 0.83x of this: the hand-offs cost more.)
  ThreadModel thread_model() override { return ThreadModel::SerializeRequests; }

  Result<std::unique_ptr<Connection>> open(const OpenParams& p) override {
    Config c = c_;
    {
      // Like upstream, the file is made by the first connection; later ones open it.
      std::lock_guard lock(mu_);
      c.create = c_.create && !created_;
      if (c.create) created_ = true;
    }
    NBD_TRY_ASSIGN(auto s, Session::open(std::move(c), p.readonly));
    return std::unique_ptr<Connection>(std::make_unique<SshConnection>(std::move(s), c_.timeout_s));
  }

  std::vector<std::string> dump_plugin() override {
    return {std::string("libssh_version=") + ssh_version(0)};
  }

 private:
  Config c_;
  bool have_create_size_ = false;
  std::mutex mu_;
  bool created_ = false;
};

constexpr ParamHelp kParams[] = {
    {"host", "host=HOST  The SSH server (required)."},
    {"path", "[path=]PATH  The file on the server, relative to the home directory (required)."},
    {"port", "port=PORT  SSH port (default 22)."},
    {"user", "user=USER  Remote user name (default: the local one)."},
    {"password", "password=PASSWORD|-|-FD|+FILE  Password, if the server takes passwords."},
    {"identity", "identity=FILE  A private key to try first (repeatable)."},
    {"known-hosts", "known-hosts=FILE  Known hosts file (default ~/.ssh/known_hosts)."},
    {"verify-remote-host", "verify-remote-host=BOOL  Check the server's host key (default true)."},
    {"config", "config=[FILE]  SSH configuration to read (empty: none)."},
    {"compression", "compression=BOOL  Compress the SSH traffic (default false)."},
    {"create", "create=BOOL  Create (or replace) the file on the first connection."},
    {"create-size", "create-size=SIZE  Size of the file create=true makes."},
    {"create-mode", "create-mode=MODE  Permissions of the file create=true makes (default 0600)."},
    {"timeout", "timeout=SECS  Longest wait to connect or for any request (default 60)."},
};

}  // namespace

extern const PluginInfo ssh_plugin_info;
const PluginInfo ssh_plugin_info{
    .name = "ssh",
    .description = "nbdkit ssh plugin (a file over SFTP)",
    .magic_config_key = "path",
    .params = kParams,
    .factory = [] { return std::unique_ptr<Plugin>(std::make_unique<SshPlugin>()); },
};

}  // namespace nbd::plugins
