// SPDX-License-Identifier: BSD-3-Clause
// ondemand plugin: one persistent filesystem per export name, kept as a file in dir= and
// created (by mkfs or command=) the first time a client asks for it; locked while in use.
#include <dirent.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <mutex>
#include <string>

#include "common/temp_dir.h"
#include "disk/image.h"
#include "disk/mkfs.h"
#include "nbd/parse.h"
#include "nbd/plugin.h"

namespace nbd::plugins {
namespace {

// Export names become file names, so they must be plain, non-hidden names.
Status check_export_name(const std::string& name) {
  if (name.size() > NAME_MAX) return make_error(EINVAL, "export name is longer than NAME_MAX");
  for (char c : name)
    if (c == '.' || c == '/' || c == ':' || static_cast<unsigned char>(c) < 0x20)
      return make_error(EINVAL,
                        "export name '" + name + "' must not contain '.', '/', ':' or control characters");
  return ok();
}

class OndemandPlugin final : public Plugin {
 public:
  Status config(std::string_view key, std::string_view value) override {
    if (key == "dir") {
      dir_ = value;
    } else if (key == "wait") {
      NBD_TRY_ASSIGN(wait_, parse_bool(key, value));
    } else {
      return mkfs_.config(key, value);
    }
    return ok();
  }
  Status config_complete() override {
    if (dir_.empty()) return make_error(EINVAL, "the dir=EXPORTSDIR parameter is required");
    struct stat st;
    if (::stat(dir_.c_str(), &st) < 0) return make_error(errno, "dir=" + dir_ + ": " + std::strerror(errno));
    if (!S_ISDIR(st.st_mode)) return make_error(ENOTDIR, "dir=" + dir_ + ": not a directory");
    return mkfs_.check("ondemand");
  }
  Result<std::vector<ExportInfo>> list_exports(bool, bool) override;
  Result<std::string> default_export(bool, bool) override { return std::string("default"); }
  Result<std::unique_ptr<Connection>> open(const OpenParams& params) override;

 private:
  Status create_if_missing(const std::string& name);

  std::string dir_;
  bool wait_ = false;
  vdisk::MkfsConfig mkfs_;
  std::mutex create_lock_;
};

Result<std::vector<ExportInfo>> OndemandPlugin::list_exports(bool, bool) {
  DIR* d = ::opendir(dir_.c_str());
  if (!d) return make_error(errno, "dir=" + dir_ + ": " + std::strerror(errno));
  std::vector<ExportInfo> exports;
  while (struct dirent* e = ::readdir(d)) {
    struct stat st;
    std::string name = e->d_name;
    if (name[0] == '.' || ::stat((dir_ + "/" + name).c_str(), &st) < 0 || !S_ISREG(st.st_mode)) continue;
    exports.push_back({name, ""});
  }
  ::closedir(d);
  std::sort(exports.begin(), exports.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return exports;
}

// Builds the disk in a hidden scratch directory inside dir= and renames it into place, so a
// half-made filesystem is never served.
Status OndemandPlugin::create_if_missing(const std::string& name) {
  std::lock_guard<std::mutex> g(create_lock_);
  std::string path = dir_ + "/" + name;
  if (::access(path.c_str(), F_OK) == 0) return ok();
  // Built in a scratch dir beside the exports and renamed into place, so a client never
  // sees a half-made filesystem.
  auto scratch = TempDir::create(".ondemand", dir_);
  if (!scratch) return make_error(scratch.error().errnum, "dir=" + scratch.error().message);
  std::string disk = scratch->file(name);
  NBD_TRY(mkfs_.create(disk));
  if (::rename(disk.c_str(), path.c_str()) < 0)
    return make_error(errno, path + ": rename: " + std::strerror(errno));
  return ok();
}

Result<std::unique_ptr<Connection>> OndemandPlugin::open(const OpenParams& params) {
  std::string name = params.export_name.empty() ? "default" : params.export_name;
  NBD_TRY(check_export_name(name));
  NBD_TRY(create_if_missing(name));
  NBD_TRY_ASSIGN(int fd, vdisk::open_file(dir_ + "/" + name, !params.readonly));
  // The lock belongs to this open file description and goes away when the client's fd closes.
  while (::flock(fd, LOCK_EX | (wait_ ? 0 : LOCK_NB)) < 0) {
    if (errno == EINTR) continue;
    int e = errno;
    ::close(fd);
    if (e == EWOULDBLOCK) return make_error(EBUSY, "filesystem is locked by another client");
    return make_error(e, name + ": flock: " + std::strerror(e));
  }
  auto size = vdisk::file_size(fd, name);
  if (!size) {
    ::close(fd);
    return size.error();
  }
  return std::unique_ptr<Connection>(
      std::make_unique<vdisk::ImageConnection>(fd, *size, !params.readonly, true, false));
}

constexpr ParamHelp kParams[] = {
    {"dir", "EXPORTSDIR  Directory holding one file per export (required)."},
    {"size", "[size=]SIZE  Size of new filesystems (required; a hint when command= is used)."},
    {"type", "FS  Filesystem type for mkfs -t (default ext4)."},
    {"label", "LABEL  Filesystem label."},
    {"command", "'COMMAND'  Shell commands that create \"$disk\" instead of mkfs."},
    {"wait", "BOOL  Wait for a busy export instead of refusing the client (default false)."},
    {"VAR", "VALUE  Any other VAR=VALUE becomes the shell variable $VAR for command=."},
};

}  // namespace

extern const PluginInfo ondemand_plugin_info;
const PluginInfo ondemand_plugin_info{
    .name = "ondemand",
    .description = "nbdkit ondemand plugin: a persistent filesystem per export name, made on first use",
    .magic_config_key = "size",
    .params = kParams,
    .factory = [] { return std::unique_ptr<Plugin>(std::make_unique<OndemandPlugin>()); },
};

}  // namespace nbd::plugins
