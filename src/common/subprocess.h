// SPDX-License-Identifier: BSD-3-Clause
// The one way this project runs another program: --run, captive servers, sh/eval scripts,
// data's <(script), mkfs, the log filter's script, nbdinfo's file(1). posix_spawn underneath.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "nbd/result.h"

namespace nbd {

// Where one of the child's standard descriptors 0, 1, 2 comes from.
struct Redirect {
  enum class Kind { Inherit, Null, Pipe, Fd };
  Kind kind = Kind::Inherit;
  int fd = -1;  // for Kind::Fd: the parent's descriptor the child gets (it stays the caller's)

  static Redirect inherit() { return {}; }
  static Redirect null() { return {Kind::Null, -1}; }
  static Redirect pipe() { return {Kind::Pipe, -1}; }
  static Redirect from_fd(int fd) { return {Kind::Fd, fd}; }
};

struct Program {
  // argv[0] is the program: a name with a '/' is used as it is, any other is looked up on
  // PATH, as execvp does. A file the kernel cannot execute (no "#!") is run by /bin/sh.
  std::vector<std::string> argv;
  // "NAME=VALUE" entries added to, or replacing those in, the caller's environment.
  std::vector<std::string> set_env;
  // Names removed from the environment the child sees.
  std::vector<std::string> unset_env;
  Redirect in, out, err;
  // (parent's descriptor, number in the child): e.g. a listening socket as fd 3. Every other
  // descriptor above 2 is closed in the child, so client sockets never leak into programs.
  std::vector<std::pair<int, int>> extra_fds;
  // The child leads a process group of its own, so kill() reaches its children too.
  bool new_process_group = false;
  // When set, this environment variable holds the child's own pid (LISTEN_PID of systemd
  // socket activation). The program is then started through /bin/sh, which execs it.
  std::string pid_env;

  // `shell -c script`: the one place a command line is given to a shell. No quoting needed
  // for values: pass them in set_env and refer to them as "$NAME".
  static Program shell(std::string script, std::string shell = "/bin/sh");
};

// A started program. Move-only; destroying one that has not been reaped kills it (SIGKILL,
// its group with new_process_group) and reaps it, so no child outlives its owner unseen.
class Subprocess {
 public:
  // Fails (with the exec errno) when the program cannot be started: "no such command" is
  // reported here, never as a program that exited 127.
  static Result<Subprocess> start(const Program& c);

  Subprocess(Subprocess&& o) noexcept;
  Subprocess& operator=(Subprocess&& o) noexcept;
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;
  ~Subprocess();

  pid_t pid() const { return pid_; }
  // The parent's ends of Redirect::pipe() descriptors (-1 otherwise). Close-on-exec.
  int stdin_fd() const { return fds_[0]; }
  int stdout_fd() const { return fds_[1]; }
  int stderr_fd() const { return fds_[2]; }
  void close_stdin() { close_fd(0); }
  void close_stdout() { close_fd(1); }
  void close_stderr() { close_fd(2); }

  // Sends sig to the program (to its group with new_process_group). No-op once reaped.
  void kill(int sig) const;
  // Blocks until the program exits; returns its wait status (as waitpid(2)).
  Result<int> wait();
  // Waits at most timeout_ms (-1: forever); nullopt while it still runs.
  Result<std::optional<int>> wait_for(int timeout_ms);
  // SIGTERM (with new_process_group, to the group), then SIGKILL after grace_ms; reaps.
  int terminate(int grace_ms);
  bool running() const { return pid_ > 0; }

 private:
  Subprocess() = default;
  void close_fd(int i);
  void reset();

  pid_t pid_ = -1;
  bool group_ = false;
  int fds_[3] = {-1, -1, -1};
};

// The program start() would run for argv[0]: a name with a '/' as it is, else the first
// executable one on $PATH (as execvp). ENOENT (or EACCES) when there is none.
Result<std::string> find_program(const std::string& name);

// A wait status in words: "exited with status 2", "was killed by signal 9".
std::string describe_wait_status(int wait_status);
// True when the program exited with status 0.
bool exited_ok(int wait_status);

struct RunOptions {
  // Written to stdin (which must be Redirect::pipe()), then closed. The program may stop
  // reading early: the rest is dropped without error (the exit status decides).
  std::span<const std::byte> input = {};
  // When set, stdout goes here and RunResult::out_bytes counts all the program printed
  // (which may be more than fits); otherwise stdout is collected in RunResult::out.
  std::span<std::byte>* fixed_output = nullptr;
  // Stdout kept in RunResult::out at most; the rest is counted in out_bytes and dropped.
  uint64_t max_output = UINT64_MAX;
  // Instead, stop reading at max_output bytes and kill the program (its group): its first
  // bytes are all that is wanted (RunResult::out_truncated).
  bool stop_at_max_output = false;
  // Kill the program and fail with ETIMEDOUT when it has not finished by then (-1: never).
  int timeout_ms = -1;
};

struct RunResult {
  int wait_status = 0;         // as from waitpid(2)
  std::string out;             // stdout, unless fixed_output was given
  uint64_t out_bytes = 0;      // bytes printed on stdout
  bool out_truncated = false;  // max_output stopped the reading
  std::string err;             // stderr (only the first 64 KiB are kept)
};

// Runs a program to completion: feeds stdin while draining stdout and stderr together, so
// neither side can block the other. Descriptors set to Redirect::pipe() are pumped, others
// are left as given. Fails only when the program cannot be started, a pipe breaks or the
// timeout passes; a program that runs and fails is a success here, with its wait status.
// Thread-safe: each call is independent.
Result<RunResult> run(const Program& c, const RunOptions& o = {});

}  // namespace nbd
