// SPDX-License-Identifier: BSD-3-Clause
// tmpdisk plugin: every client gets a fresh filesystem (mkfs, or the user's command) in a
// temporary file that is deleted when it disconnects.
#include <unistd.h>

#include <string>

#include "common/temp_dir.h"
#include "disk/image.h"
#include "disk/mkfs.h"
#include "nbd/plugin.h"

namespace nbd::plugins {
namespace {

class TmpdiskPlugin final : public Plugin {
 public:
  Status config(std::string_view key, std::string_view value) override { return mkfs_.config(key, value); }
  Status config_complete() override { return mkfs_.check("tmpdisk"); }
  Result<std::unique_ptr<Connection>> open(const OpenParams& params) override {
    // $disk must not exist when the command runs, so it goes in a private directory.
    NBD_TRY_ASSIGN(auto dir, TempDir::create("tmpdisk", temp_base("/var/tmp")));
    std::string disk = dir.file("disk");
    NBD_TRY(mkfs_.create(disk));
    // Removed at once with dir: the file lives only as long as the client's descriptor.
    auto fd = vdisk::open_file(disk, true);
    NBD_TRY(fd);
    auto size = vdisk::file_size(*fd, disk);
    if (!size) {
      ::close(*fd);
      return size.error();
    }
    return std::unique_ptr<Connection>(
        std::make_unique<vdisk::ImageConnection>(*fd, *size, !params.readonly, true, false));
  }

 private:
  vdisk::MkfsConfig mkfs_;
};

constexpr ParamHelp kParams[] = {
    {"size", "[size=]SIZE  Size of each client's disk (required; a hint when command= is used)."},
    {"type", "FS  Filesystem type for mkfs -t (default ext4)."},
    {"label", "LABEL  Filesystem label."},
    {"command", "'COMMAND'  Shell commands that create \"$disk\" instead of mkfs."},
    {"VAR", "VALUE  Any other VAR=VALUE becomes the shell variable $VAR for command=."},
};

}  // namespace

extern const PluginInfo tmpdisk_plugin_info;
const PluginInfo tmpdisk_plugin_info{
    .name = "tmpdisk",
    .description = "nbdkit tmpdisk plugin: a fresh temporary filesystem for each client",
    .magic_config_key = "size",
    .params = kParams,
    .factory = [] { return std::unique_ptr<Plugin>(std::make_unique<TmpdiskPlugin>()); },
};

}  // namespace nbd::plugins
