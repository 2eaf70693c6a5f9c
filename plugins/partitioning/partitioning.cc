// SPDX-License-Identifier: BSD-3-Clause
// partitioning plugin: a virtual MBR or GPT disk whose partitions are the given files.
// The layout and tables come from common/mbr_gpt_layout; this file is the glue.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "disk/image.h"
#include "disk/mbr_gpt_layout.h"
#include "nbd/parse.h"
#include "nbd/plugin.h"

namespace nbd::plugins {
namespace {

using mbr_gpt::Layout;
using mbr_gpt::PartitionSpec;
using mbr_gpt::TableType;

struct PartFile {
  std::string path;
  int fd = -1;
};

Status full_io(const PartFile& f, std::span<std::byte> buf, uint64_t off, bool write) {
  auto r = write ? vdisk::write_fully(f.fd, buf, off) : vdisk::read_fully(f.fd, buf, off);
  if (!r) return make_error(r.error().errnum, f.path + ": " + r.error().message);
  return ok();
}

class PartitioningConnection final : public Connection {
 public:
  PartitioningConnection(const Layout& layout, const std::vector<PartFile>& files, bool writable)
      : layout_(layout), files_(files), writable_(writable) {}
  Result<uint64_t> get_size() override { return layout_.size(); }
  Result<bool> can_write() override { return writable_; }
  Result<bool> can_flush() override { return true; }
  Result<FuaMode> can_fua() override { return FuaMode::Emulate; }
  Status pread(std::span<std::byte> buf, uint64_t offset, uint32_t) override {
    return layout_.read(buf, offset, [this](size_t i, std::span<std::byte> b, uint64_t o) {
      return full_io(files_[i], b, o, false);
    });
  }
  Status pwrite(std::span<const std::byte> buf, uint64_t offset, uint32_t) override {
    return layout_.write(buf, offset, [this](size_t i, std::span<std::byte> b, uint64_t o) {
      return full_io(files_[i], b, o, true);
    });
  }
  Status flush(uint32_t) override {
    for (const auto& f : files_)
      if (::fdatasync(f.fd) < 0) return make_error(errno, f.path + ": fdatasync: " + std::strerror(errno));
    return ok();
  }

 private:
  const Layout& layout_;
  const std::vector<PartFile>& files_;
  bool writable_;
};

class PartitioningPlugin final : public Plugin {
 public:
  ~PartitioningPlugin() override {
    for (auto& f : files_)
      if (f.fd >= 0) ::close(f.fd);
  }
  Status config(std::string_view key, std::string_view value) override;
  Status config_complete() override;
  Result<std::unique_ptr<Connection>> open(const OpenParams& params) override {
    return std::unique_ptr<Connection>(
        std::make_unique<PartitioningConnection>(*layout_, files_, writable_ && !params.readonly));
  }

 private:
  Status open_file(const std::string& path, PartitionSpec& spec);

  std::vector<PartitionSpec> specs_;
  std::vector<PartFile> files_;
  PartitionSpec next_;  // settings that apply to the following files
  std::string table_type_;
  bool writable_ = true;
  std::optional<Layout> layout_;
};

Status PartitioningPlugin::config(std::string_view key, std::string_view value) {
  if (key == "file") {
    PartitionSpec s = next_;
    NBD_TRY(open_file(std::string(value), s));
    specs_.push_back(std::move(s));
  } else if (key == "partition-type") {
    if (value != "mbr" && value != "gpt")
      return make_error(EINVAL, "partition-type=" + std::string(value) + ": must be mbr or gpt");
    table_type_ = value;
  } else if (key == "mbr-id") {
    if (value == "default") {
      next_.mbr_id = 0x83;
    } else {
      NBD_TRY_ASSIGN(auto id, parse_uint64(key, value));
      if (id == 0 || id > 0xff)
        return make_error(EINVAL, "mbr-id=" + std::string(value) + ": must be 0x01 to 0xff");
      next_.mbr_id = static_cast<uint8_t>(id);
    }
  } else if (key == "type-guid") {
    if (value == "default") {
      next_.type_guid = gpt::kLinuxFilesystem;
    } else {
      NBD_TRY_ASSIGN(next_.type_guid, gpt::parse_guid(key, value));
    }
  } else if (key == "alignment") {
    NBD_TRY_ASSIGN(next_.alignment, parse_size(key, value));
    if (next_.alignment == 0 || next_.alignment % 512 != 0)
      return make_error(EINVAL, "alignment=" + std::string(value) + ": must be a non-zero multiple of 512");
  } else {
    return Plugin::config(key, value);
  }
  return ok();
}

Status PartitioningPlugin::open_file(const std::string& path, PartitionSpec& spec) {
  int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0 && (errno == EACCES || errno == EROFS || errno == EPERM)) {
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    writable_ = false;
  }
  if (fd < 0) return make_error(errno, path + ": " + std::strerror(errno));
  files_.push_back({path, fd});
  struct stat st;
  if (::fstat(fd, &st) < 0) return make_error(errno, path + ": " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return make_error(EINVAL, path + ": not a regular file");
  spec.size = static_cast<uint64_t>(st.st_size);
  spec.name = path;  // as upstream: the name as given, cut to 36 UTF-16 units
  char* real = ::realpath(path.c_str(), nullptr);
  spec.seed = real ? real : path;
  std::free(real);
  return ok();
}

Status PartitioningPlugin::config_complete() {
  if (specs_.empty()) return make_error(EINVAL, "you must supply at least one file=FILENAME parameter");
  TableType t = TableType::Mbr;
  uint64_t total = 0;
  for (const auto& s : specs_) total += s.size;
  if (table_type_ == "gpt" ||
      (table_type_.empty() && (specs_.size() > 4 || total > (2ull << 40) - (64ull << 20))))
    t = TableType::Gpt;
  NBD_TRY_ASSIGN(auto l, Layout::create(t, specs_));
  layout_.emplace(std::move(l));
  return ok();
}

constexpr ParamHelp kParams[] = {
    {"file", "[file=]FILENAME  A file holding one partition's contents (repeat, in order)."},
    {"partition-type", "mbr|gpt  Partition table type (default: MBR unless > 4 files or > 2 TiB)."},
    {"mbr-id", "0xN|default  MBR type byte of the following files (default 0x83)."},
    {"type-guid", "GUID|default  GPT type GUID of the following files (default Linux filesystem)."},
    {"alignment", "SIZE  Alignment of the following partitions (default 1M)."},
};

}  // namespace

extern const PluginInfo partitioning_plugin_info;
const PluginInfo partitioning_plugin_info{
    .name = "partitioning",
    .description = "nbdkit partitioning plugin: a virtual MBR or GPT disk made of partition files",
    .magic_config_key = "file",
    .params = kParams,
    .factory = [] { return std::unique_ptr<Plugin>(std::make_unique<PartitioningPlugin>()); },
};

}  // namespace nbd::plugins
