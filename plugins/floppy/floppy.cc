// SPDX-License-Identifier: BSD-3-Clause
// floppy plugin: a read-only virtual FAT32 disk (MBR + one partition) made from a directory,
// written by fat_image.cc; file contents are read from the directory on demand, not copied.
#include <optional>
#include <string>

#include "disk/fat_image.h"
#include "nbd/parse.h"
#include "nbd/plugin.h"

namespace nbd::plugins {
namespace {

class FloppyConnection final : public Connection {
 public:
  explicit FloppyConnection(const fat::Image& img) : img_(img) {}
  Result<uint64_t> get_size() override { return img_.size(); }
  Result<bool> can_multi_conn() override { return true; }
  Result<bool> can_extents() override { return true; }
  Result<CacheMode> can_cache() override { return CacheMode::Emulate; }
  Status pread(std::span<std::byte> buf, uint64_t offset, uint32_t) override {
    return img_.read(buf, offset);
  }
  Status extents(uint64_t count, uint64_t offset, uint32_t, ExtentList& e) override {
    return img_.extents(count, offset, e);
  }

 private:
  const fat::Image& img_;
};

class FloppyPlugin final : public Plugin {
 public:
  Status config(std::string_view key, std::string_view value) override {
    if (key == "dir") {
      dir_ = value;
    } else if (key == "label") {
      if (value.size() > 11)
        return make_error(EINVAL, "label=" + std::string(value) + ": at most 11 characters");
      for (char c : value)
        if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e)
          return make_error(EINVAL, "label=" + std::string(value) + ": only printable ASCII is allowed");
      label_ = value;
    } else if (key == "size") {
      NBD_TRY_ASSIGN(size_, parse_size(key, value));
    } else {
      return Plugin::config(key, value);
    }
    return ok();
  }
  Status config_complete() override {
    if (dir_.empty()) return make_error(EINVAL, "you must supply the dir=DIRECTORY parameter");
    return ok();
  }
  Status get_ready() override {
    NBD_TRY_ASSIGN(auto img, fat::Image::create(dir_, label_, size_));
    image_.emplace(std::move(img));
    return ok();
  }
  Result<std::unique_ptr<Connection>> open(const OpenParams&) override {
    return std::unique_ptr<Connection>(std::make_unique<FloppyConnection>(*image_));
  }

 private:
  std::string dir_, label_ = "NBDKITFLOPY";
  uint64_t size_ = 0;
  std::optional<fat::Image> image_;
};

constexpr ParamHelp kParams[] = {
    {"dir", "[dir=]DIRECTORY  Directory whose files appear on the disk (required)."},
    {"label", "LABEL  Volume label, up to 11 ASCII characters (default NBDKITFLOPY)."},
    {"size", "SIZE  Total disk size (default: just large enough)."},
};

}  // namespace

extern const PluginInfo floppy_plugin_info;
const PluginInfo floppy_plugin_info{
    .name = "floppy",
    .description = "nbdkit floppy plugin: a virtual FAT32 disk made from a directory",
    .magic_config_key = "dir",
    .params = kParams,
    .factory = [] { return std::unique_ptr<Plugin>(std::make_unique<FloppyPlugin>()); },
};

}  // namespace nbd::plugins
