// SPDX-License-Identifier: BSD-3-Clause
// Files and shell scripts as byte sources for the data language.
#include "data_source.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace nbd::data {
namespace {

constexpr size_t kReadChunk = 64 * 1024;

// Reads fd until EOF or limit bytes; eof tells which one stopped it.
Result<Bytes> read_fd(int fd, uint64_t limit, const std::string& what, bool& eof) {
  Bytes out;
  eof = false;
  while (out.size() < limit) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(kReadChunk, limit - out.size()));
    size_t old = out.size();
    out.resize(old + want);
    ssize_t r = ::read(fd, out.data() + old, want);
    int e = errno;
    out.resize(old + static_cast<size_t>(std::max<ssize_t>(r, 0)));
    if (r < 0 && e == EINTR) continue;
    if (r < 0) return make_error(e, what + ": " + std::strerror(e));
    if (r == 0) {
      eof = true;
      break;
    }
  }
  return out;
}

std::string script_name(const std::string& script) {
  std::string s = script.substr(0, 40);
  std::replace(s.begin(), s.end(), '\n', ' ');
  return "<(" + s + (script.size() > 40 ? "...)" : ")");
}

}  // namespace

Result<Bytes> read_file(const std::string& path, uint64_t limit) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return make_error(errno, path + ": " + std::strerror(errno));
  bool eof = false;
  auto r = read_fd(fd, limit, path, eof);
  ::close(fd);
  return r;
}

Result<Bytes> run_script(const std::string& script, uint64_t limit) {
  const std::string name = script_name(script);
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) < 0) return make_error(errno, name + ": pipe: " + std::strerror(errno));
  pid_t pid = ::fork();
  if (pid < 0) {
    int e = errno;
    ::close(fds[0]);
    ::close(fds[1]);
    return make_error(e, name + ": fork: " + std::strerror(e));
  }
  if (pid == 0) {
    ::setpgid(0, 0);
    ::signal(SIGPIPE, SIG_DFL);  // an endless writer must die when we stop reading
    int null = ::open("/dev/null", O_RDONLY);
    if (null >= 0) ::dup2(null, 0);
    ::dup2(fds[1], 1);
    ::execl("/bin/sh", "sh", "-c", script.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::setpgid(pid, pid);
  ::close(fds[1]);
  bool eof = false;
  auto r = read_fd(fds[0], limit, name, eof);
  ::close(fds[0]);
  if (!eof) ::kill(-pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!r) return r;
  // Under a slice (a limit) the status is ignored, as upstream does: the script may have been
  // cut short, and only its first bytes matter.
  if (eof && limit == UINT64_MAX && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
    if (WIFEXITED(status)) return make_error(EIO, name + ": script exited with status " + std::to_string(WEXITSTATUS(status)));
    return make_error(EIO, name + ": script was killed by signal " + std::to_string(WTERMSIG(status)));
  }
  return r;
}

}  // namespace nbd::data
