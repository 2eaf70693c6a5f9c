// SPDX-License-Identifier: BSD-3-Clause
// iso plugin: a read-only ISO 9660 image of one or more directories, made at startup by
// xorriso (as mkisofs), genisoimage or mkisofs into a temporary file, then served from it.
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "common/subprocess.h"
#include "disk/image.h"
#include "disk/mkfs.h"
#include "nbd/plugin.h"

namespace nbd::plugins {
namespace {

std::string default_prog() {
  for (const char* p : {"xorriso", "genisoimage", "mkisofs"})
    if (find_program(p)) return p;
  return "xorriso";
}

class IsoPlugin final : public Plugin {
 public:
  ~IsoPlugin() override {
    if (fd_ >= 0) ::close(fd_);
  }
  Status config(std::string_view key, std::string_view value) override {
    if (key == "dir")
      dirs_.emplace_back(value);
    else if (key == "params")
      params_ = value;
    else if (key == "prog")
      prog_ = value;
    else
      return Plugin::config(key, value);
    return ok();
  }
  Status config_complete() override {
    if (dirs_.empty()) return make_error(EINVAL, "you must supply at least one dir=DIRECTORY parameter");
    for (const auto& d : dirs_)
      if (::access(d.c_str(), R_OK | X_OK) != 0)
        return make_error(errno, "dir=" + d + ": " + std::strerror(errno));
    return ok();
  }
  Status get_ready() override;
  Result<std::unique_ptr<Connection>> open(const OpenParams&) override {
    return std::unique_ptr<Connection>(
        std::make_unique<vdisk::ImageConnection>(fd_, size_, false, false, true));
  }
  std::vector<std::string> dump_plugin() override { return {"iso_prog=" + default_prog()}; }

 private:
  std::vector<std::string> dirs_;
  std::string params_, prog_;
  int fd_ = -1;
  uint64_t size_ = 0;
};

Status IsoPlugin::get_ready() {
  NBD_TRY_ASSIGN(auto path, vdisk::make_temp_file("nbdkitiso"));
  std::string prog = prog_.empty() ? default_prog() : prog_;
  // xorriso speaks the mkisofs command line only when asked to.
  std::string base = prog.substr(prog.find_last_of('/') + 1);
  // params goes through the shell unquoted, as upstream documents; the rest are arguments.
  std::string cmd = std::string("\"$0\" ") + (base == "xorriso" ? "-as mkisofs " : "") + "-quiet " + params_ +
                    " -o \"$ISO_OUT\" \"$@\"";
  std::vector<std::string> args = {prog};
  args.insert(args.end(), dirs_.begin(), dirs_.end());
  auto r = vdisk::run_shell(prog, cmd, {{"ISO_OUT", path}}, args);
  if (r) {
    auto fd = vdisk::open_file(path, false);
    if (fd)
      fd_ = *fd;
    else
      r = fd.error();
  }
  ::unlink(path.c_str());
  NBD_TRY(r);
  NBD_TRY_ASSIGN(size_, vdisk::file_size(fd_, path));
  return ok();
}

constexpr ParamHelp kParams[] = {
    {"dir", "[dir=]DIRECTORY  Directory to put in the ISO (repeat to merge several)."},
    {"params", "'PARAMS'  Extra parameters for the ISO program (passed through the shell)."},
    {"prog", "PROGRAM  xorriso, genisoimage or mkisofs (default: the first found)."},
};

}  // namespace

extern const PluginInfo iso_plugin_info;
const PluginInfo iso_plugin_info{
    .name = "iso",
    .description = "nbdkit iso plugin: a virtual ISO 9660 CD-ROM image made from directories",
    .magic_config_key = "dir",
    .params = kParams,
    .factory = [] { return std::unique_ptr<Plugin>(std::make_unique<IsoPlugin>()); },
};

}  // namespace nbd::plugins
