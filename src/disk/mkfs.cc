// SPDX-License-Identifier: BSD-3-Clause
// Running image-building programs and managing temporary images (see mkfs.h).
#include "disk/mkfs.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "common/subprocess.h"
#include "common/temp_dir.h"
#include "nbd/parse.h"

namespace nbd::vdisk {

Status run_shell(std::string_view what, const std::string& script,
                 const std::vector<std::pair<std::string, std::string>>& vars,
                 const std::vector<std::string>& args) {
  Program c = Program::shell(script);
  c.argv.insert(c.argv.end(), args.begin(), args.end());
  for (const auto& [k, v] : vars) c.set_env.push_back(k + "=" + v);
  // mkfs chatter goes to our stderr, never onto a --run command's stdout.
  c.in = Redirect::null();
  c.out = Redirect::from_fd(2);
  auto p = Subprocess::start(c);
  if (!p)
    return make_error(p.error().errnum, std::string(what) + ": cannot run /bin/sh: " + p.error().message);
  NBD_TRY_ASSIGN(int status, p->wait());
  if (exited_ok(status)) return ok();
  if (WIFSIGNALED(status))
    return make_error(EIO, std::string(what) + ": command " + describe_wait_status(status));
  return make_error(
      EIO, std::string(what) + ": command failed with exit status " + std::to_string(WEXITSTATUS(status)));
}

Result<std::string> make_temp_file(std::string_view prefix) {
  std::string path = temp_base("/var/tmp") + "/" + std::string(prefix) + "XXXXXX";
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

namespace {

bool is_shell_name(std::string_view k) {
  if (k.empty() || std::isdigit(static_cast<unsigned char>(k[0]))) return false;
  return std::all_of(k.begin(), k.end(),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

// The default command: a sparse file of $size bytes formatted by mkfs -t $type. The label
// option and the "don't ask" flag differ between mkfs programs.
std::string default_script(std::string_view type, bool has_label) {
  std::string force, label_opt = "-L";
  if (type.starts_with("ext"))
    force = " -F -q";
  else if (type == "xfs")
    force = " -f -q";
  else if (type == "btrfs")
    force = " -f -q";
  else if (type == "vfat" || type == "fat" || type == "msdos")
    label_opt = "-n";
  else if (type == "ntfs")
    force = " -F -Q -q";
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
  if (!size_set_)
    return make_error(EINVAL, "the size parameter is required (" + std::string(plugin) + " SIZE)");
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
