// SPDX-License-Identifier: BSD-3-Clause
// Running image-building programs and managing temporary images (see mkfs.h).
#include "mkfs.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

extern char** environ;

namespace nbd::vdisk {

std::string shell_quote(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += "'\\''";
    else out += c;
  }
  return out + "'";
}

Status run_shell(std::string_view what, const std::string& script,
                 const std::vector<std::pair<std::string, std::string>>& vars) {
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; e++) env_strings.emplace_back(*e);
  for (const auto& [k, v] : vars) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, 2, 1);
  std::string sh = "/bin/sh", dash_c = "-c", body = script;
  char* argv[] = {sh.data(), dash_c.data(), body.data(), nullptr};
  pid_t pid;
  int r = posix_spawn(&pid, "/bin/sh", &fa, nullptr, argv, envp.data());
  posix_spawn_file_actions_destroy(&fa);
  if (r != 0) return make_error(r, std::string(what) + ": cannot run /bin/sh: " + std::strerror(r));
  int status;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return make_error(errno, std::string(what) + ": waitpid: " + std::strerror(errno));
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return ok();
  if (WIFSIGNALED(status))
    return make_error(EIO, std::string(what) + ": command was killed by signal " + std::to_string(WTERMSIG(status)));
  return make_error(EIO, std::string(what) + ": command failed with exit status " + std::to_string(WEXITSTATUS(status)));
}

std::string temp_dir() {
  const char* t = std::getenv("TMPDIR");
  return t && *t ? t : "/var/tmp";
}

Result<std::string> make_temp_file(std::string_view prefix) {
  std::string path = temp_dir() + "/" + std::string(prefix) + "XXXXXX";
  int fd = ::mkstemp(path.data());
  if (fd < 0) return make_error(errno, path + ": cannot create temporary file: " + std::strerror(errno));
  ::close(fd);
  return path;
}

Result<int> open_file(const std::string& path, bool writable) {
  int fd = ::open(path.c_str(), (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
  if (fd < 0) return make_error(errno, path + ": " + std::strerror(errno));
  return fd;
}

Result<uint64_t> file_size(int fd, std::string_view what) {
  struct stat st;
  if (::fstat(fd, &st) < 0) return make_error(errno, std::string(what) + ": stat: " + std::strerror(errno));
  return static_cast<uint64_t>(st.st_size);
}

}  // namespace nbd::vdisk
