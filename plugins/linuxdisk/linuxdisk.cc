// SPDX-License-Identifier: BSD-3-Clause
// linuxdisk plugin: an ext2/3/4 filesystem made from a directory by `mke2fs -d` into a
// temporary file at startup, served read-only inside a GPT disk with one partition.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <string>

#include "common/subprocess.h"
#include "disk/image.h"
#include "disk/mbr_gpt_layout.h"
#include "disk/mkfs.h"
#include "estimate.h"
#include "nbd/parse.h"
#include "nbd/plugin.h"

namespace nbd::plugins {
namespace {

using linuxdisk::kBlock;

class LinuxdiskConnection final : public Connection {
 public:
  LinuxdiskConnection(const mbr_gpt::Layout& l, int fd) : layout_(l), fd_(fd) {}
  Result<uint64_t> get_size() override { return layout_.size(); }
  Result<bool> can_multi_conn() override { return true; }
  Result<bool> can_extents() override { return true; }
  Status pread(std::span<std::byte> buf, uint64_t offset, uint32_t) override {
    return layout_.read(buf, offset, [this](size_t, std::span<std::byte> b, uint64_t o) {
      return vdisk::read_fully(fd_, b, o);
    });
  }
  Status extents(uint64_t count, uint64_t offset, uint32_t, ExtentList& e) override {
    for (uint64_t end = offset + count; offset < end;) {
      const auto& r = layout_.find(offset);
      uint64_t n = std::min(end, r.end) - offset;
      if (r.kind == mbr_gpt::Region::Kind::Partition)
        NBD_TRY(vdisk::file_extents(fd_, n, offset - r.start, r.start, e));
      else
        NBD_TRY(e.add(offset, n, r.kind == mbr_gpt::Region::Kind::Zero ? kExtentHole | kExtentZero : 0));
      offset += n;
    }
    return ok();
  }

 private:
  const mbr_gpt::Layout& layout_;
  int fd_;
};

class LinuxdiskPlugin final : public Plugin {
 public:
  ~LinuxdiskPlugin() override {
    if (fd_ >= 0) ::close(fd_);
  }
  Status config(std::string_view key, std::string_view value) override;
  Status config_complete() override {
    if (dir_.empty()) return make_error(EINVAL, "you must supply the dir=DIRECTORY parameter");
    return ok();
  }
  Status get_ready() override;
  Result<std::unique_ptr<Connection>> open(const OpenParams&) override {
    return std::unique_ptr<Connection>(std::make_unique<LinuxdiskConnection>(*layout_, fd_));
  }

 private:
  Result<uint64_t> make_fs(const std::string& path, uint64_t fs_size, uint64_t inodes);

  std::string dir_, label_, type_ = "ext2";
  uint64_t size_ = 0;
  bool size_is_extra_ = false, size_given_ = false;
  int fd_ = -1;
  std::optional<mbr_gpt::Layout> layout_;
};

Status LinuxdiskPlugin::config(std::string_view key, std::string_view value) {
  if (key == "dir") {
    dir_ = value;
  } else if (key == "label") {
    label_ = value;
  } else if (key == "type") {
    if (value != "ext2" && value != "ext3" && value != "ext4")
      return make_error(EINVAL, "type=" + std::string(value) + ": must be ext2, ext3 or ext4");
    type_ = value;
  } else if (key == "size") {
    size_is_extra_ = !value.empty() && value[0] == '+';
    NBD_TRY_ASSIGN(size_, parse_size(key, size_is_extra_ ? value.substr(1) : value));
    size_given_ = true;
  } else {
    return Plugin::config(key, value);
  }
  return ok();
}

// Runs mke2fs on a fresh file of fs_size bytes; returns the filesystem's free bytes.
Result<uint64_t> LinuxdiskPlugin::make_fs(const std::string& path, uint64_t fs_size, uint64_t inodes) {
  if (::truncate(path.c_str(), static_cast<off_t>(fs_size)) < 0)
    return make_error(errno, path + ": truncate: " + std::strerror(errno));
  Program c;
  c.argv = {"mke2fs", "-q", "-F", "-t", type_, "-b", "4096", "-m", "0", "-N", std::to_string(inodes)};
  if (!label_.empty()) c.argv.insert(c.argv.end(), {"-L", label_});
  c.argv.insert(c.argv.end(), {"-d", dir_, path});
  c.in = Redirect::null();
  c.out = Redirect::from_fd(2);
  c.err = Redirect::pipe();
  auto r = run(c);
  if (!r) return make_error(r.error().errnum, "mke2fs: cannot run mke2fs: " + r.error().message);
  if (!exited_ok(r->wait_status)) {
    // Keep mke2fs's own reason (its last line) in the one-line error.
    std::string why = r->err;
    while (!why.empty() && (why.back() == '\n' || why.back() == '\r')) why.pop_back();
    why = why.substr(why.find_last_of('\n') + 1);
    return make_error(ENOSPC, "mke2fs: command failed with exit status " +
                                  std::to_string(WEXITSTATUS(r->wait_status)) +
                                  (why.empty() ? "" : ": " + why));
  }
  NBD_TRY_ASSIGN(int fd, vdisk::open_file(path, false));
  std::byte sb[1024];
  auto rr = vdisk::read_fully(fd, sb, 1024);
  ::close(fd);
  NBD_TRY(rr);
  uint64_t free_blocks = 0;
  for (int i = 3; i >= 0; i--) free_blocks = free_blocks << 8 | static_cast<uint8_t>(sb[0x0c + i]);
  return free_blocks * kBlock;
}

Status LinuxdiskPlugin::get_ready() {
  NBD_TRY_ASSIGN(auto usage, linuxdisk::measure_tree(dir_));
  bool journal = type_ != "ext2";
  uint64_t extra = size_is_extra_ ? size_ : 0;
  uint64_t fs_size = size_given_ && !size_is_extra_ ? size_ / kBlock * kBlock
                                                    : linuxdisk::estimate_fs_size(usage, extra, journal);
  NBD_TRY_ASSIGN(auto path, vdisk::make_temp_file("nbdkitlinuxdisk"));
  Result<uint64_t> free_bytes = make_error(EIO, "");
  for (int attempt = 0; attempt < 8; attempt++) {
    free_bytes = make_fs(path, fs_size, linuxdisk::inode_count(usage));
    if (size_given_ && !size_is_extra_) break;  // an exact size is tried once
    if (free_bytes && *free_bytes >= extra) break;
    uint64_t grow = free_bytes ? extra - *free_bytes : fs_size / 4;
    fs_size += (grow + grow / 8 + (1 << 20)) / kBlock * kBlock;
  }
  auto fd = vdisk::open_file(path, false);
  ::unlink(path.c_str());
  if (!free_bytes)
    return make_error(free_bytes.error().errnum, "dir=" + dir_ + ": " + free_bytes.error().message);
  if (*free_bytes < extra)
    return make_error(
        ENOSPC, "size=+" + std::to_string(extra) + ": could not make a filesystem with that much free space");
  NBD_TRY_ASSIGN(fd_, std::move(fd));
  mbr_gpt::PartitionSpec part;
  part.size = fs_size;
  part.seed = dir_ + "\n" + label_;
  NBD_TRY_ASSIGN(auto layout, mbr_gpt::Layout::create(mbr_gpt::TableType::Gpt, {part}));
  layout_.emplace(std::move(layout));
  return ok();
}

constexpr ParamHelp kParams[] = {
    {"dir", "[dir=]DIRECTORY  Directory whose contents make the filesystem (required)."},
    {"label", "LABEL  Filesystem label."},
    {"type", "ext2|ext3|ext4  Filesystem type (default ext2)."},
    {"size", "[+]SIZE  Filesystem size, or with + the free space wanted (default: just enough)."},
};

}  // namespace

extern const PluginInfo linuxdisk_plugin_info;
const PluginInfo linuxdisk_plugin_info{
    .name = "linuxdisk",
    .description = "nbdkit linuxdisk plugin: a virtual ext2/3/4 disk made from a directory",
    .magic_config_key = "dir",
    .params = kParams,
    .factory = [] { return std::unique_ptr<Plugin>(std::make_unique<LinuxdiskPlugin>()); },
};

}  // namespace nbd::plugins
