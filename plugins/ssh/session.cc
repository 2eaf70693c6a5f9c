// SPDX-License-Identifier: BSD-3-Clause
// The ssh plugin's session: libssh for the connection and login, SFTP for the file. Reads are
// pipelined (many SFTP reads in flight for one request), since each would otherwise cost a
// round trip.
#include "plugins/ssh/session.h"

#include <fcntl.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

namespace nbd::plugins::ssh_plugin {
namespace {

// OpenSSH's sftp-server answers reads of up to 255 KiB (longer ones come back short).
constexpr uint32_t kReadChunk = 255 << 10;
constexpr uint32_t kWriteChunk = 64 << 10;

int errno_of_sftp(int code) {
  switch (code) {
    case SSH_FX_NO_SUCH_FILE: return ENOENT;
    case SSH_FX_PERMISSION_DENIED: return EACCES;
    case SSH_FX_OP_UNSUPPORTED: return ENOTSUP;
    default: return EIO;
  }
}

// Process-wide: one thread watching every session's request deadline. Never destroyed, since
// its thread may still be waiting when static destructors run.
class Watchdog {
 public:
  static Watchdog& get() {
    static Watchdog* w = new Watchdog;
    return *w;
  }
  uint64_t arm(int fd, std::chrono::steady_clock::time_point at) {
    std::lock_guard lock(mu_);
    if (!started_) {
      started_ = true;
      std::thread([this] { loop(); }).detach();
    }
    const uint64_t id = next_++;
    entries_[id] = {fd, at, false};
    // Wake the thread only when it would sleep past this deadline: requests come one after
    // another with the same timeout, so nearly always it need not (a wake-up per request
    // would cost two context switches).
    if (at < wake_at_) cv_.notify_one();
    return id;
  }
  // True when the deadline had passed (and the socket was shut down).
  bool disarm(uint64_t id) {
    std::lock_guard lock(mu_);
    auto it = entries_.find(id);
    const bool fired = it != entries_.end() && it->second.fired;
    if (it != entries_.end()) entries_.erase(it);
    return fired;
  }
  bool fired(uint64_t id) {
    std::lock_guard lock(mu_);
    auto it = entries_.find(id);
    return it != entries_.end() && it->second.fired;
  }

 private:
  struct Entry {
    int fd;
    std::chrono::steady_clock::time_point at;
    bool fired;
  };
  void loop() {
    std::unique_lock lock(mu_);
    for (;;) {
      auto next = std::chrono::steady_clock::time_point::max();
      const auto now = std::chrono::steady_clock::now();
      for (auto& [id, e] : entries_) {
        if (e.fired) continue;
        if (e.at <= now) {
          ::shutdown(e.fd, SHUT_RDWR);  // the waiting libssh call sees the socket close
          e.fired = true;
        } else {
          next = std::min(next, e.at);
        }
      }
      wake_at_ = next;
      if (next == std::chrono::steady_clock::time_point::max())
        cv_.wait(lock);
      else
        cv_.wait_until(lock, next);
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<uint64_t, Entry> entries_;
  uint64_t next_ = 1;
  bool started_ = false;
  // When the thread will next look at the entries (max(): not until notified).
  std::chrono::steady_clock::time_point wake_at_ = std::chrono::steady_clock::time_point::max();
};

}  // namespace

Deadline::Deadline(int fd, uint32_t seconds)
    : id_(Watchdog::get().arm(fd, std::chrono::steady_clock::now() + std::chrono::seconds(seconds))) {}
Deadline::~Deadline() { Watchdog::get().disarm(id_); }
bool Deadline::expired() const { return Watchdog::get().fired(id_); }

Error Session::ssh_error(const std::string& what) const {
  return make_error(EIO, what + ": " + (ssh_ ? ssh_get_error(ssh_) : "no session"));
}

Error Session::sftp_error(const std::string& what) const {
  const int code = sftp_ ? sftp_get_error(sftp_) : SSH_FX_FAILURE;
  return make_error(errno_of_sftp(code), what + ": " + (ssh_ ? ssh_get_error(ssh_) : "no session"));
}

Status Session::login() {
  NBD_TRY(connect());
  NBD_TRY(verify_host());
  return authenticate();
}

Result<std::unique_ptr<Session>> Session::open(Config c, bool readonly) {
  std::unique_ptr<Session> s(new Session(std::move(c)));
  NBD_TRY(s->login());
  NBD_TRY(s->open_file(readonly));
  return s;
}

Status Session::probe(Config c) {
  const bool file = !c.create;
  c.create = false;
  Session s(std::move(c));
  NBD_TRY(s.login());
  return file ? s.open_file(true) : ok();
}

Session::~Session() {
  if (file_) {
    Status dropped = drop_prefetch();  // libssh would keep the answers queued otherwise
    (void)dropped;
    sftp_close(file_);
  }
  if (sftp_) sftp_free(sftp_);
  if (ssh_) {
    ssh_disconnect(ssh_);
    ssh_free(ssh_);
  }
}

Status Session::connect() {
  ssh_ = ssh_new();
  if (!ssh_) return make_error(ENOMEM, "ssh_new failed");
  auto opt = [this](ssh_options_e o, const void* v, const char* what) -> Status {
    if (ssh_options_set(ssh_, o, v) != SSH_OK) return ssh_error(what);
    return ok();
  };
  NBD_TRY(opt(SSH_OPTIONS_HOST, c_.host.c_str(), "host"));
  if (c_.port) NBD_TRY(opt(SSH_OPTIONS_PORT_STR, c_.port->c_str(), "port"));
  if (c_.user) NBD_TRY(opt(SSH_OPTIONS_USER, c_.user->c_str(), "user"));
  NBD_TRY(opt(SSH_OPTIONS_LOG_VERBOSITY, &c_.log_level, "log level"));
  if (c_.known_hosts) NBD_TRY(opt(SSH_OPTIONS_KNOWNHOSTS, c_.known_hosts->c_str(), "known-hosts"));
  for (const auto& id : c_.identities) NBD_TRY(opt(SSH_OPTIONS_ADD_IDENTITY, id.c_str(), "identity"));
  if (c_.compression) NBD_TRY(opt(SSH_OPTIONS_COMPRESSION, "yes", "compression"));
  // Nagle's algorithm would hold each pipelined read request until the previous one is
  // acknowledged (delayed ACKs: 40 ms each): 16 MiB/s instead of the link's speed.
  const int nodelay = 1;
  NBD_TRY(opt(SSH_OPTIONS_NODELAY, &nodelay, "nodelay"));
  const long timeout = c_.timeout_s;
  NBD_TRY(opt(SSH_OPTIONS_TIMEOUT, &timeout, "timeout"));
  if (c_.config_file && c_.config_file->empty()) {
    const int no = 0;
    NBD_TRY(opt(SSH_OPTIONS_PROCESS_CONFIG, &no, "config"));
  } else if (ssh_options_parse_config(ssh_, c_.config_file ? c_.config_file->c_str() : nullptr) != SSH_OK) {
    return ssh_error("config=" + c_.config_file.value_or("(default)"));
  }
  if (ssh_connect(ssh_) != SSH_OK) return ssh_error("connecting to " + c_.host);
  return ok();
}

Status Session::verify_host() {
  if (!c_.verify_remote_host) return ok();
  switch (ssh_session_is_known_server(ssh_)) {
    case SSH_KNOWN_HOSTS_OK: return ok();
    case SSH_KNOWN_HOSTS_CHANGED:
      return make_error(EACCES,
                        "the host key of " + c_.host +
                            " has changed since it was recorded in known hosts (a reinstalled server, or "
                            "someone in the middle): check known-hosts=");
    case SSH_KNOWN_HOSTS_OTHER:
      return make_error(EACCES,
                        "the host key of " + c_.host + " is of another type than the one in known hosts");
    case SSH_KNOWN_HOSTS_NOT_FOUND:
    case SSH_KNOWN_HOSTS_UNKNOWN:
      return make_error(EACCES, "the host key of " + c_.host +
                                    " is unknown: record it in known-hosts= (ssh-keyscan), or use "
                                    "verify-remote-host=false");
    case SSH_KNOWN_HOSTS_ERROR:
    default: return ssh_error("checking the host key of " + c_.host);
  }
}

Status Session::authenticate() {
  if (ssh_userauth_none(ssh_, nullptr) == SSH_AUTH_SUCCESS) return ok();
  const int methods = ssh_userauth_list(ssh_, nullptr);
  std::string tried = "none";
  if (methods & SSH_AUTH_METHOD_PUBLICKEY) {
    tried += ", publickey";
    if (ssh_userauth_publickey_auto(ssh_, nullptr, nullptr) == SSH_AUTH_SUCCESS) return ok();
  }
  if (c_.password && (methods & SSH_AUTH_METHOD_PASSWORD)) {
    tried += ", password";
    if (ssh_userauth_password(ssh_, nullptr, c_.password->c_str()) == SSH_AUTH_SUCCESS) return ok();
  }
  return make_error(EACCES,
                    "logging in to " + c_.host + " failed (tried " + tried + "): " + ssh_get_error(ssh_));
}

Status Session::open_file(bool readonly) {
  sftp_ = sftp_new(ssh_);
  if (!sftp_) return ssh_error("starting SFTP on " + c_.host);
  if (sftp_init(sftp_) != SSH_OK) return sftp_error("starting SFTP on " + c_.host);
  const std::string& p = c_.path;
  if (c_.create) {
    sftp_file f = sftp_open(sftp_, p.c_str(), O_WRONLY | O_CREAT | O_TRUNC, c_.create_mode);
    if (!f) return sftp_error("creating " + p);
    sftp_close(f);
    sftp_attributes_struct attr{};
    // The mode too: an existing file keeps its own through O_CREAT, and a new one gets the
    // server's umask.
    attr.flags = SSH_FILEXFER_ATTR_SIZE | SSH_FILEXFER_ATTR_PERMISSIONS;
    attr.size = c_.create_size;
    attr.permissions = c_.create_mode;
    if (sftp_setstat(sftp_, p.c_str(), &attr) != SSH_OK)
      return sftp_error("setting the size and mode of " + p);
  }
  file_ = sftp_open(sftp_, p.c_str(), readonly ? O_RDONLY : O_RDWR, 0);
  if (!file_) return sftp_error("opening " + p);
  sftp_attributes a = sftp_fstat(file_);
  if (!a) return sftp_error("stat of " + p);
  const bool has_size = a->flags & SSH_FILEXFER_ATTR_SIZE;
  size_ = a->size;
  sftp_attributes_free(a);
  if (!has_size) return make_error(EIO, "the server does not say how large " + p + " is");
  fsync_ = sftp_extension_supported(sftp_, "fsync@openssh.com", "1");
  return ok();
}

Status Session::read_sync(std::span<std::byte> buf, uint64_t offset) {
  if (sftp_seek64(file_, offset) != SSH_OK) return sftp_error("seek in " + c_.path);
  while (!buf.empty()) {
    const ssize_t n = sftp_read(file_, buf.data(), std::min<size_t>(buf.size(), kReadChunk));
    if (n < 0) return sftp_error("reading " + c_.path);
    if (n == 0) return make_error(EIO, "reading " + c_.path + ": the file ended early (did it shrink?)");
    buf = buf.subspan(static_cast<size_t>(n));
  }
  return ok();
}

Status Session::begin(Batch& b, uint64_t offset, uint64_t len) {
  b.offset = offset, b.len = len;
  b.pieces.clear();
  if (sftp_seek64(file_, offset) != SSH_OK) return sftp_error("seek in " + c_.path);
  for (uint64_t done = 0; done < len; done += kReadChunk) {
    const uint32_t n = static_cast<uint32_t>(std::min<uint64_t>(kReadChunk, len - done));
    const int id = sftp_async_read_begin(file_, n);
    if (id < 0) return sftp_error("reading " + c_.path);  // those sent are still collected
    b.pieces.push_back({n, id});
  }
  return ok();
}

// Every id handed out must be collected (libssh keeps the answer until then, and a wrong id
// would wait for ever), so a failure stops filling, not collecting. dst null: thrown away.
Status Session::collect(Batch& b, std::byte* dst) {
  Status failed = ok();
  uint64_t at = 0;
  std::vector<std::pair<uint64_t, uint32_t>> shorts;  // (offset in batch, bytes missing)
  for (const auto& p : b.pieces) {
    std::byte* to = dst ? dst + at : scratch(p.len);
    const int got = sftp_async_read(file_, to, p.len, static_cast<uint32_t>(p.id));
    if (got < 0 && failed) failed = sftp_error("reading " + c_.path);
    if (got >= 0 && static_cast<uint32_t>(got) < p.len) shorts.push_back({at + got, p.len - got});
    at += p.len;
  }
  b.pieces.clear();
  NBD_TRY(failed);
  // A server may answer a read with fewer bytes than asked: fetch the rest one by one.
  if (dst)
    for (const auto& [off, n] : shorts) NBD_TRY(read_sync({dst + off, n}, b.offset + off));
  return ok();
}

std::byte* Session::scratch(size_t n) {
  if (scratch_.size() < n) scratch_.resize(n);
  return scratch_.data();
}

Status Session::drop_prefetch() {
  if (prefetch_.pieces.empty()) return ok();
  return collect(prefetch_, nullptr);
}

Status Session::pread(std::span<std::byte> buf, uint64_t offset) {
  const bool sequential = offset == next_offset_;
  next_offset_ = offset + buf.size();
  if (!prefetch_.pieces.empty() && prefetch_.offset == offset && prefetch_.len == buf.size()) {
    NBD_TRY(collect(prefetch_, buf.data()));
  } else {
    NBD_TRY(drop_prefetch());
    Batch b;
    Status st = begin(b, offset, buf.size());
    NBD_TRY(collect(b, buf.data()));
    NBD_TRY(st);
  }
  // Reading on from where the last read ended: ask for the next stretch now, so the server
  // works on it while this reply goes to the client.
  if (sequential && next_offset_ + buf.size() <= size_) {
    Status st = begin(prefetch_, next_offset_, buf.size());
    if (!st) {
      Status dropped = drop_prefetch();
      (void)dropped;  // the error that matters is the one reported next time
    }
  }
  return ok();
}

Status Session::pwrite(std::span<const std::byte> buf, uint64_t offset) {
  NBD_TRY(drop_prefetch());  // read before this write: it may hold the old bytes
  if (sftp_seek64(file_, offset) != SSH_OK) return sftp_error("seek in " + c_.path);
  while (!buf.empty()) {
    const ssize_t n = sftp_write(file_, buf.data(), std::min<size_t>(buf.size(), kWriteChunk));
    if (n <= 0) return sftp_error("writing " + c_.path);
    buf = buf.subspan(static_cast<size_t>(n));
  }
  return ok();
}

Status Session::fsync() {
  NBD_TRY(drop_prefetch());
  if (sftp_fsync(file_) != SSH_OK) return sftp_error("fsync of " + c_.path);
  return ok();
}

}  // namespace nbd::plugins::ssh_plugin
