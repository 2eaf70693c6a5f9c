// SPDX-License-Identifier: BSD-3-Clause
// Running image-building programs and managing temporary images (see mkfs.h).
#include "mkfs.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "nbd/parse.h"

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

Result<std::string> make_temp_dir(std::string_view prefix) {
  std::string path = temp_dir() + "/" + std::string(prefix) + "XXXXXX";
  if (!::mkdtemp(path.data()))
    return make_error(errno, path + ": cannot create temporary directory: " + std::strerror(errno));
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

namespace {

bool is_shell_name(std::string_view k) {
  if (k.empty() || std::isdigit(static_cast<unsigned char>(k[0]))) return false;
  return std::all_of(k.begin(), k.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

// The default command: a sparse file of $size bytes formatted by mkfs -t $type. The label
// option and the "don't ask" flag differ between mkfs programs.
std::string default_script(std::string_view type, bool has_label) {
  std::string force, label_opt = "-L";
  if (type.starts_with("ext")) force = " -F -q";
  else if (type == "xfs") force = " -f -q";
  else if (type == "btrfs") force = " -f -q";
  else if (type == "vfat" || type == "fat" || type == "msdos") label_opt = "-n";
  else if (type == "ntfs") force = " -F -Q -q";
  return "truncate -s \"$size\" \"$disk\" && mkfs -t \"$type\"" + force +
         (has_label ? " " + label_opt + " \"$label\"" : "") + " \"$disk\"";
}

}  // namespace

Status MkfsConfig::config(std::string_view key, std::string_view value) {
  if (key == "size") {
    NBD_TRY_ASSIGN(size_, parse_size(key, value));
    size_set_ = true;
  } else if (key == "type") {
    type_ = value;
  } else if (key == "label") {
    label_ = value;
  } else if (key == "command") {
    command_ = value;
  } else if (key == "disk" || !is_shell_name(key)) {
    return make_error(EINVAL, "unknown parameter '" + std::string(key) +
                                  "' (other parameters must be shell variable names for command=)");
  } else {
    vars_.emplace_back(key, value);
  }
  return ok();
}

Status MkfsConfig::check(std::string_view plugin) const {
  if (!size_set_) return make_error(EINVAL, "the size parameter is required (" + std::string(plugin) + " SIZE)");
  return ok();
}

Status MkfsConfig::create(const std::string& disk_path) const {
  auto vars = vars_;
  vars.emplace_back("disk", disk_path);
  vars.emplace_back("size", std::to_string(size_));
  vars.emplace_back("type", type_);
  vars.emplace_back("label", label_);
  if (!command_.empty()) return run_shell("command", command_, vars);
  return run_shell("mkfs -t " + type_, default_script(type_, !label_.empty()), vars);
}

}  // namespace nbd::vdisk
