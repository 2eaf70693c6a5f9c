// SPDX-License-Identifier: BSD-3-Clause
// One SSH + SFTP session to the remote file, for the ssh plugin: connect, check the host key,
// log in, open (or create) the file, then pread/pwrite/fsync. Not thread-safe (libssh sessions
// are not): the plugin gives each NBD connection its own and serializes its requests.
#pragma once

#include <libssh/libssh.h>
#include <libssh/sftp.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "nbd/result.h"

namespace nbd::plugins::ssh_plugin {

struct Config {
  std::string host, path;
  std::optional<std::string> port, user, password, known_hosts, config_file;
  std::vector<std::string> identities;
  bool verify_remote_host = true, compression = false;
  bool create = false;
  uint64_t create_size = 0;
  uint32_t create_mode = 0600;
  uint32_t timeout_s = 60;  // connecting, and any one request: past it the session is cut
  int log_level = 0;        // -D ssh.log=N
};

class Session {
 public:
  // Connects and opens the file (read-only or read-write). With create, the file is first
  // made (replacing any) with create_size and create_mode.
  static Result<std::unique_ptr<Session>> open(Config c, bool readonly);
  // Connects, checks the host key, logs in and (unless c.create) opens the file read-only,
  // then closes: what would fail every client fails here, once.
  static Status probe(Config c);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  uint64_t size() const { return size_; }
  bool can_fsync() const { return fsync_; }
  int socket_fd() const { return ssh_get_fd(ssh_); }
  Status pread(std::span<std::byte> buf, uint64_t offset);
  Status pwrite(std::span<const std::byte> buf, uint64_t offset);
  Status fsync();

 private:
  explicit Session(Config c) : c_(std::move(c)) {}
  Status login();  // connect, verify_host, authenticate
  Status connect();
  Status verify_host();
  Status authenticate();
  Status open_file(bool readonly);
  Error ssh_error(const std::string& what) const;
  Error sftp_error(const std::string& what) const;
  Status read_sync(std::span<std::byte> buf, uint64_t offset);

  // SFTP reads sent together for one stretch of the file, collected later.
  struct Piece {
    uint32_t len;
    int id;
  };
  struct Batch {
    uint64_t offset = 0, len = 0;
    std::vector<Piece> pieces;  // empty: nothing outstanding
  };
  Status begin(Batch& b, uint64_t offset, uint64_t len);
  Status collect(Batch& b, std::byte* dst);
  Status drop_prefetch();
  std::byte* scratch(size_t n);

  const Config c_;
  ssh_session ssh_ = nullptr;
  sftp_session sftp_ = nullptr;
  sftp_file file_ = nullptr;
  uint64_t size_ = 0;
  bool fsync_ = false;
  uint64_t next_offset_ = UINT64_MAX;  // where the last read ended
  Batch prefetch_;                     // the stretch after it, when reads are sequential
  std::vector<std::byte> scratch_;
};

// Ends a request that outlives its deadline: libssh waits for the server without a limit once
// connected, so a watchdog thread shuts the session's socket down, which fails the wait.
class Deadline {
 public:
  Deadline(int fd, uint32_t seconds);
  ~Deadline();
  Deadline(const Deadline&) = delete;
  Deadline& operator=(const Deadline&) = delete;
  bool expired() const;

 private:
  uint64_t id_;
};

}  // namespace nbd::plugins::ssh_plugin
