// SPDX-License-Identifier: BSD-3-Clause
// file plugin: serves a file or block device (file=PATH), every file of a directory as its own
// export (dir=DIR), or an inherited descriptor (fd=N). Like upstream's nbdkit-file-plugin.
#include "file.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "nbd/parse.h"

namespace nbd::plugins {
namespace {

using file::IoOptions;

enum class Mode { Unset, File, Dir, Fd };

// Absolute path now, because the server may change directory before clients arrive.
Result<std::string> absolute(std::string_view key, std::string_view value) {
  std::string v(value);
  char* r = realpath(v.c_str(), nullptr);
  if (!r) {
    int e = errno;
    return make_error(e, std::string(key) + "=" + v + ": " + std::strerror(e));
  }
  std::string out(r);
  std::free(r);
  return out;
}

bool servable(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode));
}

class FilePlugin final : public Plugin {
 public:
  Status config(std::string_view key, std::string_view value) override {
    if (key == "file" || key == "dir" || key == "fd") {
      if (mode_ != Mode::Unset) {
        return make_error(EINVAL, std::string(key) + "=" + std::string(value) +
                                      ": only one of file=, dir= or fd= may be given");
      }
      return set_mode(key, value);
    }
    if (key == "cache") {
      if (value == "default")
        opts_.cache = file::Cache::Default;
      else if (value == "none")
        opts_.cache = file::Cache::None;
      else
        return make_error(EINVAL, "cache=" + std::string(value) + ": unknown value (use default or none)");
      return ok();
    }
    if (key == "fadvise") {
      if (value == "normal")
        opts_.fadvise = file::Fadvise::Normal;
      else if (value == "random")
        opts_.fadvise = file::Fadvise::Random;
      else if (value == "sequential")
        opts_.fadvise = file::Fadvise::Sequential;
      else
        return make_error(
            EINVAL, "fadvise=" + std::string(value) + ": unknown value (use normal, random or sequential)");
      return ok();
    }
    return Plugin::config(key, value);
  }

  Status config_complete() override {
    if (mode_ == Mode::Unset)
      return make_error(EINVAL, "one of file=, dir= or fd= is required (eg. file disk.img)");
    return ok();
  }

  Result<std::vector<ExportInfo>> list_exports(bool readonly, bool is_tls) override {
    if (mode_ != Mode::Dir) return Plugin::list_exports(readonly, is_tls);
    DIR* d = opendir(path_.c_str());
    if (!d) return make_error(errno, "dir=" + path_ + ": " + std::strerror(errno));
    std::vector<ExportInfo> out;
    while (dirent* ent = readdir(d)) {
      std::string name = ent->d_name;
      if (name != "." && name != ".." && servable(path_ + "/" + name)) out.push_back({name, ""});
    }
    closedir(d);
    std::sort(out.begin(), out.end(),
              [](const ExportInfo& a, const ExportInfo& b) { return a.name < b.name; });
    return out;
  }

  Result<std::unique_ptr<Connection>> open(const OpenParams& params) override {
    switch (mode_) {
      case Mode::File: return file::open_file(path_, params.readonly, opts_);
      case Mode::Dir: return open_in_dir(params);
      case Mode::Fd: return open_fd(params.readonly);
      case Mode::Unset: break;
    }
    return make_error(EINVAL, "no file configured");
  }

  std::vector<std::string> dump_plugin() override {
    return {"file_blksszget=yes", "file_blkzeroout=yes", "file_falloc_fl_punch_hole=yes",
            "file_falloc_fl_zero_range=yes"};
  }

 private:
  Status set_mode(std::string_view key, std::string_view value) {
    if (key == "fd") {
      NBD_TRY_ASSIGN(uint32_t fd, parse_uint32(key, value));
      int fl = fcntl(static_cast<int>(fd), F_GETFL);
      if (fl == -1) return make_error(EBADF, "fd=" + std::string(value) + ": not an open file descriptor");
      struct stat st;
      if (fstat(static_cast<int>(fd), &st) == 0 && !S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
        return make_error(EINVAL, "fd=" + std::string(value) + ": not a regular file or block device");
      }
      fd_ = static_cast<int>(fd);
      fd_writable_ = (fl & O_ACCMODE) != O_RDONLY;
      mode_ = Mode::Fd;
      return ok();
    }
    NBD_TRY_ASSIGN(path_, absolute(key, value));
    struct stat st;
    if (stat(path_.c_str(), &st) == -1)
      return make_error(errno, std::string(key) + "=" + std::string(value) + ": " + std::strerror(errno));
    if (key == "dir" && !S_ISDIR(st.st_mode))
      return make_error(ENOTDIR, "dir=" + std::string(value) + ": not a directory");
    if (key == "file" && S_ISDIR(st.st_mode)) {
      return make_error(EISDIR,
                        "file=" + std::string(value) + ": is a directory (use dir= to serve its files)");
    }
    mode_ = key == "dir" ? Mode::Dir : Mode::File;
    return ok();
  }

  Result<std::unique_ptr<Connection>> open_in_dir(const OpenParams& params) {
    const std::string& name = params.export_name;
    if (name.empty())
      return make_error(
          ENOENT,
          "dir mode: the default export \"\" is not served; ask for a file name (nbdinfo --list shows them)");
    if (name.find('/') != std::string::npos || name == "." || name == "..") {
      return make_error(EINVAL, "dir mode: export name '" + name + "' must be a plain file name");
    }
    std::string path = path_ + "/" + name;
    if (!servable(path)) return make_error(ENOENT, "dir mode: no file '" + name + "' in " + path_);
    return file::open_file(path, params.readonly, opts_);
  }

  Result<std::unique_ptr<Connection>> open_fd(bool readonly) {
    // Each client gets its own descriptor: closing one must not close the others'.
    int fd = fcntl(fd_, F_DUPFD_CLOEXEC, 0);
    if (fd == -1) return make_error(errno, "fd=" + std::to_string(fd_) + ": dup: " + std::strerror(errno));
    return file::make_file_connection(fd, "fd=" + std::to_string(fd_), fd_writable_ && !readonly, opts_);
  }

  Mode mode_ = Mode::Unset;
  std::string path_;
  int fd_ = -1;
  bool fd_writable_ = false;
  IoOptions opts_;
};

constexpr ParamHelp kParams[] = {
    {"file", "[file=]FILENAME  The file or block device to serve."},
    {"dir", "dir=DIRECTORY  Serve each file in DIRECTORY as an export named after it."},
    {"fd", "fd=N  Serve the already open file descriptor N."},
    {"cache", "cache=default|none  none drops what was read or written from the page cache."},
    {"fadvise", "fadvise=normal|random|sequential  Access pattern hint for the kernel."},
};

}  // namespace

extern const PluginInfo file_plugin_info;
const PluginInfo file_plugin_info{
    .name = "file",
    .description = "nbdkit file plugin: serves a file, a block device or a directory of files",
    .magic_config_key = "file",
    .params = kParams,
    .factory = [] { return std::unique_ptr<Plugin>(std::make_unique<FilePlugin>()); },
};

}  // namespace nbd::plugins
