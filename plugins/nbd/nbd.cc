// SPDX-License-Identifier: BSD-3-Clause
// nbd plugin: forwards every request to another NBD server (upstream's nbdkit-nbd-plugin), on
// our own client library. Each client gets its own backend connection, or all share one
// (shared=true; implied by command= and socket-fd=). Capabilities, block status, flags and
// block sizes are the backend's.
#include <mutex>

#include "backend.h"
#include "nbd/log.h"
#include "nbd/parse.h"
#include "nbd/plugin.h"

namespace nbd::plugins {
namespace {

using nbd_proxy::Backend;
using nbd_proxy::Target;

class NbdConnection final : public Connection {
 public:
  // owned is null when the backend is shared (then it outlives every connection).
  NbdConnection(std::unique_ptr<Backend> owned, Backend& b) : owned_(std::move(owned)), b_(b) {}

  Result<uint64_t> get_size() override {
    NBD_TRY_ASSIGN(int64_t n, h().get_size());
    return static_cast<uint64_t>(n);
  }
  Result<BlockSize> block_size() override {
    BlockSize s;
    NBD_TRY_ASSIGN(int64_t min, h().get_block_size(client::BlockSizeKind::Minimum));
    NBD_TRY_ASSIGN(int64_t pref, h().get_block_size(client::BlockSizeKind::Preferred));
    NBD_TRY_ASSIGN(int64_t max, h().get_block_size(client::BlockSizeKind::Maximum));
    s.minimum = static_cast<uint32_t>(min), s.preferred = static_cast<uint32_t>(pref);
    s.maximum = static_cast<uint32_t>(max);
    return s;
  }
  Result<bool> can_write() override {
    NBD_TRY_ASSIGN(bool ro, h().is_read_only());
    return !ro;
  }
  Result<bool> can_flush() override { return h().can_flush(); }
  Result<bool> is_rotational() override { return h().is_rotational(); }
  Result<bool> can_trim() override { return h().can_trim(); }
  Result<ZeroMode> can_zero() override {
    NBD_TRY_ASSIGN(bool z, h().can_zero());
    return z ? ZeroMode::Native : ZeroMode::Emulate;
  }
  Result<bool> can_fast_zero() override { return h().can_fast_zero(); }
  Result<bool> can_extents() override { return h().can_meta_context("base:allocation"); }
  Result<FuaMode> can_fua() override {
    NBD_TRY_ASSIGN(bool f, h().can_fua());
    return f ? FuaMode::Native : FuaMode::None;
  }
  Result<bool> can_multi_conn() override { return h().can_multi_conn(); }
  Result<CacheMode> can_cache() override {
    NBD_TRY_ASSIGN(bool c, h().can_cache());
    return c ? CacheMode::Native : CacheMode::None;
  }

  Status pread(std::span<std::byte> buf, uint64_t offset, uint32_t flags) override {
    return b_.pread(buf, offset, flags);
  }
  Status pwrite(std::span<const std::byte> buf, uint64_t offset, uint32_t flags) override {
    return b_.pwrite(buf, offset, flags);
  }
  Status flush(uint32_t) override { return b_.flush(); }
  Status trim(uint64_t count, uint64_t offset, uint32_t flags) override {
    return b_.trim(count, offset, flags);
  }
  Status zero(uint64_t count, uint64_t offset, uint32_t flags) override {
    return b_.zero(count, offset, flags);
  }
  Status cache(uint64_t count, uint64_t offset, uint32_t) override { return b_.cache(count, offset); }
  Status extents(uint64_t count, uint64_t offset, uint32_t flags, ExtentList& out) override {
    return b_.extents(count, offset, flags, out);
  }

 private:
  client::Handle& h() { return b_.handle(); }
  std::unique_ptr<Backend> owned_;
  Backend& b_;
};

Result<client::TlsMode> parse_tls(std::string_view v) {
  if (v == "off") return client::TlsMode::Disable;
  if (v == "on") return client::TlsMode::Allow;
  if (v == "require") return client::TlsMode::Require;
  return make_error(EINVAL, "tls=" + std::string(v) + ": expected off, on or require");
}

class NbdPlugin final : public Plugin {
 public:
  Status config(std::string_view key, std::string_view value) override {
    const std::string v(value);
    if (key == "uri") {
      t_.uri = v;
    } else if (key == "socket") {
      t_.socket = v;
    } else if (key == "hostname") {
      t_.hostname = v;
    } else if (key == "port") {
      t_.port = v;
    } else if (key == "vsock") {
      t_.vsock = v;
    } else if (key == "command") {
      t_.command.insert(t_.command.begin(), v);
      have_command_ = true;
    } else if (key == "arg") {
      t_.command.push_back(v);
      args_ = true;
    } else if (key == "socket-fd") {
      NBD_TRY_ASSIGN(uint32_t fd, parse_uint32(key, value));
      t_.socket_fd = static_cast<int>(fd);
    } else if (key == "export") {
      t_.export_name = v;
      have_export_ = true;
    } else if (key == "retry") {
      NBD_TRY_ASSIGN(t_.retry, parse_uint32(key, value));
    } else if (key == "timeout") {
      NBD_TRY_ASSIGN(t_.timeout_s, parse_seconds(key, value));
    } else if (key == "shared") {
      NBD_TRY_ASSIGN(bool s, parse_bool(key, value));
      shared_ = s ? 1 : 0;
    } else if (key == "dynamic-export") {
      NBD_TRY_ASSIGN(dynamic_, parse_bool(key, value));
    } else if (key == "tls") {
      NBD_TRY_ASSIGN(t_.tls, parse_tls(value));
      have_tls_ = true;
    } else if (key == "tls-certificates") {
      t_.tls_certificates = v, tls_option_ = true;
    } else if (key == "tls-verify") {
      NBD_TRY_ASSIGN(bool b, parse_bool(key, value));
      t_.tls_verify = b ? 1 : 0, tls_option_ = true;
    } else if (key == "tls-username") {
      t_.tls_username = v, tls_option_ = true;
    } else if (key == "tls-psk") {
      t_.tls_psk = v, tls_option_ = true;
    } else {
      return Plugin::config(key, value);
    }
    return ok();
  }

  Status config_complete() override {
    const int ways = !t_.uri.empty() + !t_.socket.empty() + !t_.hostname.empty() + !t_.vsock.empty() +
                     have_command_ + (t_.socket_fd >= 0);
    if (ways != 1) {
      return make_error(
          EINVAL, ways == 0 ? "give exactly one of socket=, hostname=, vsock=, uri=, command= or socket-fd="
                            : "give only one of socket=, hostname=, vsock=, uri=, command= and socket-fd=");
    }
    if (args_ && !have_command_) return make_error(EINVAL, "arg= needs command=");
    if (have_export_ && !t_.uri.empty())
      return make_error(EINVAL, "export= cannot go with uri=: put the export in the URI");
    if (have_export_ && dynamic_) return make_error(EINVAL, "export= cannot go with dynamic-export=true");
    const bool implied = have_command_ || t_.socket_fd >= 0;
    if (shared_ == 0 && implied) return make_error(EINVAL, "command= and socket-fd= need shared=true");
    if (shared_ == -1) shared_ = implied ? 1 : 0;
    if (shared_ == 1 && dynamic_) return make_error(EINVAL, "dynamic-export=true cannot go with shared mode");
    if (!have_tls_ && tls_option_)
      t_.tls = client::TlsMode::Allow;  // upstream: another tls option means tls=on
    return ok();
  }

  // The shared connection is made once the server has forked into the background, so its
  // socket thread belongs to the process that serves.
  Status after_fork() override {
    if (shared_ != 1) return ok();
    NBD_TRY_ASSIGN(shared_backend_, Backend::connect(t_, nullptr));
    return ok();
  }

  Result<std::unique_ptr<Connection>> open(const OpenParams& p) override {
    if (shared_backend_) {
      return std::unique_ptr<Connection>(std::make_unique<NbdConnection>(nullptr, *shared_backend_));
    }
    NBD_TRY_ASSIGN(auto b, Backend::connect(t_, dynamic_ ? &p.export_name : nullptr));
    Backend& ref = *b;
    return std::unique_ptr<Connection>(std::make_unique<NbdConnection>(std::move(b), ref));
  }

  // With dynamic-export=true clients reach any of the server's exports, so list those.
  Result<std::vector<ExportInfo>> list_exports(bool readonly, bool is_tls) override {
    if (!dynamic_) return Plugin::list_exports(readonly, is_tls);
    return Backend::list_exports(t_);
  }

  void unload() override { shared_backend_.reset(); }

 private:
  Target t_;
  bool have_command_ = false, args_ = false, have_export_ = false, dynamic_ = false;
  bool have_tls_ = false, tls_option_ = false;
  int shared_ = -1;  // -1: not given
  std::unique_ptr<Backend> shared_backend_;
};

constexpr ParamHelp kParams[] = {
    {"uri", "[uri=]URI  NBD URI of the server (nbd://, nbds://, nbd+unix://, nbd+vsock://)."},
    {"socket", "socket=SOCKNAME  Unix socket of the server."},
    {"hostname", "hostname=HOST  TCP host of the server."},
    {"port", "port=PORT  TCP port or service (default 10809), or vsock port."},
    {"vsock", "vsock=CID  vsock CID of the server."},
    {"command", "command=COMMAND  Run this NBD server with socket activation (implies shared=true)."},
    {"arg", "arg=ARG  One argument of command= (repeat in order)."},
    {"socket-fd", "socket-fd=FD  An inherited socket connected to the server (implies shared=true)."},
    {"export", "export=NAME  Export to use (default \"\")."},
    {"retry", "retry=N  Retry the first connection N more times, a second apart (default 0)."},
    {"timeout", "timeout=SECS  Close the server connection when a request waits this long (default 300)."},
    {"shared", "shared=BOOL  One server connection for all clients (default false)."},
    {"dynamic-export", "dynamic-export=BOOL  Pass each client's export name to the server."},
    {"tls", "tls=off|on|require  TLS to the server (default off)."},
    {"tls-certificates", "tls-certificates=DIR  Client certificates for TLS."},
    {"tls-verify", "tls-verify=BOOL  Verify the server's certificate (default true)."},
    {"tls-username", "tls-username=NAME  PSK username."},
    {"tls-psk", "tls-psk=FILE  PSK keys file."},
};

}  // namespace

extern const PluginInfo nbd_plugin_info;
const PluginInfo nbd_plugin_info{
    .name = "nbd",
    .description = "nbdkit plugin forwarding to another NBD server",
    .magic_config_key = "uri",
    .params = kParams,
    .factory = [] { return std::unique_ptr<Plugin>(std::make_unique<NbdPlugin>()); },
};

}  // namespace nbd::plugins
