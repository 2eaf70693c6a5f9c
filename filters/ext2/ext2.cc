// SPDX-License-Identifier: BSD-3-Clause
// ext2 filter: the plugin holds an ext2/3/4 file system; clients see one file inside it, read
// and written in place through libext2fs (upstream's nbdkit-ext2-filter). ext2file=exportname
// serves the file the client names. libext2fs is not thread-safe and two openers of one file
// system would corrupt it, so connections are served one at a time, as upstream.
extern "C" {  // com_err.h declares its functions without C linkage for C++
#include <et/com_err.h>
}
#include <ext2fs/ext2fs.h>

#include "ext2_io.h"
#include "nbd/filter.h"

namespace nbd::filters {
namespace {

std::string why(errcode_t e, Connection* below) {
  std::string m = error_message(e);
  std::string dev = ext2::last_device_error(below);
  return dev.empty() ? m : m + " (" + dev + ")";
}

class Ext2Connection final : public FilterConnection {
 public:
  Ext2Connection(std::unique_ptr<Connection> next) : FilterConnection(std::move(next)) {}
  ~Ext2Connection() override {
    if (file_) ext2fs_file_close(file_);
    if (fs_) ext2fs_close_free(&fs_);  // writes the superblock and bitmaps back if writable
    ext2::forget_device(&next());
  }

  Status open_fs(const std::string& path, bool writable) {
    NBD_TRY_ASSIGN(uint64_t size, next().get_size());
    writable_ = writable;
    const std::string dev = ext2::device_name(&next(), size);
    int flags = EXT2_FLAG_64BITS | (writable ? EXT2_FLAG_RW : 0);
    if (errcode_t e = ext2fs_open2(dev.c_str(), nullptr, flags, 0, 0, ext2::connection_io_manager(), &fs_)) {
      fs_ = nullptr;
      return make_error(EINVAL, "ext2: not an ext2/3/4 file system: " + why(e, &next()));
    }
    if (ext2fs_has_feature_journal_needs_recovery(fs_->super))
      return make_error(EINVAL,
                        "ext2: the file system's journal needs recovery first (e2fsck -fy on the image)");
    ext2_ino_t ino = 0;
    if (errcode_t e = ext2fs_namei(fs_, EXT2_ROOT_INO, EXT2_ROOT_INO, path.c_str(), &ino))
      return make_error(ENOENT, "ext2: " + path + ": " + why(e, &next()));
    ext2_inode inode{};
    if (errcode_t e = ext2fs_read_inode(fs_, ino, &inode))
      return make_error(EIO, "ext2: " + path + ": " + why(e, &next()));
    if (!LINUX_S_ISREG(inode.i_mode)) return make_error(EINVAL, "ext2: " + path + " is not a regular file");
    if (errcode_t e = ext2fs_file_open(fs_, ino, writable ? EXT2_FILE_WRITE : 0, &file_)) {
      file_ = nullptr;
      return make_error(EIO, "ext2: opening " + path + ": " + why(e, &next()));
    }
    __u64 size_in_fs = 0;
    if (errcode_t e = ext2fs_file_get_lsize(file_, &size_in_fs))
      return make_error(EIO, "ext2: size of " + path + ": " + why(e, &next()));
    size_ = size_in_fs;
    return ok();
  }

  Result<uint64_t> get_size() override { return size_; }
  Result<bool> can_write() override { return writable_; }
  Result<bool> can_flush() override { return writable_; }
  Result<bool> can_trim() override { return false; }
  Result<ZeroMode> can_zero() override { return ZeroMode::Emulate; }
  Result<bool> can_fast_zero() override { return false; }
  Result<FuaMode> can_fua() override { return writable_ ? FuaMode::Emulate : FuaMode::None; }
  Result<bool> can_extents() override { return false; }
  Result<bool> can_multi_conn() override { return false; }
  Result<CacheMode> can_cache() override { return CacheMode::Emulate; }
  Result<BlockSize> block_size() override { return BlockSize{}; }

  Status pread(std::span<std::byte> buf, uint64_t offset, uint32_t) override {
    if (errcode_t e = ext2fs_file_llseek(file_, offset, EXT2_SEEK_SET, nullptr))
      return make_error(EIO, "ext2: seek: " + why(e, &next()));
    while (!buf.empty()) {
      unsigned int got = 0;
      const unsigned int want = unsigned(std::min<size_t>(buf.size(), 1u << 30));
      if (errcode_t e = ext2fs_file_read(file_, buf.data(), want, &got))
        return make_error(EIO, "ext2: read: " + why(e, &next()));
      if (got == 0) return make_error(EIO, "ext2: read: the file ended early");
      buf = buf.subspan(got);
    }
    return ok();
  }

  Status pwrite(std::span<const std::byte> buf, uint64_t offset, uint32_t) override {
    if (errcode_t e = ext2fs_file_llseek(file_, offset, EXT2_SEEK_SET, nullptr))
      return make_error(EIO, "ext2: seek: " + why(e, &next()));
    while (!buf.empty()) {
      unsigned int put = 0;
      const unsigned int want = unsigned(std::min<size_t>(buf.size(), 1u << 30));
      if (errcode_t e = ext2fs_file_write(file_, buf.data(), want, &put))
        return make_error(e == EXT2_ET_BLOCK_ALLOC_FAIL ? ENOSPC : EIO, "ext2: write: " + why(e, &next()));
      if (put == 0) return make_error(EIO, "ext2: write: nothing written");
      buf = buf.subspan(put);
    }
    return ok();
  }

  Status flush(uint32_t) override {
    if (errcode_t e = ext2fs_file_flush(file_)) return make_error(EIO, "ext2: flush: " + why(e, &next()));
    if (errcode_t e = ext2fs_flush(fs_)) return make_error(EIO, "ext2: flush: " + why(e, &next()));
    NBD_TRY_ASSIGN(bool can, next().can_flush());
    return can ? next().flush(0) : ok();
  }

 private:
  ext2_filsys fs_ = nullptr;
  ext2_file_t file_ = nullptr;
  uint64_t size_ = 0;
  bool writable_ = false;
};

class Ext2Filter final : public Filter {
 public:
  Ext2Filter() { initialize_ext2_error_table(); }

  Result<bool> config(std::string_view key, std::string_view value) override {
    if (key != "ext2file") return false;
    file_ = std::string(value);
    return true;
  }
  Status config_complete() override {
    if (file_.empty())
      return make_error(EINVAL,
                        "ext2: ext2file= is required (a path such as /disks/disk.raw, or exportname)");
    if (file_ != "exportname" && file_[0] != '/')
      return make_error(EINVAL, "ext2: ext2file=" + file_ + ": the path must be absolute (start with /)");
    return ok();
  }
  ThreadModel thread_model() override { return ThreadModel::SerializeConnections; }

  Result<std::unique_ptr<Connection>> open(const OpenParams& params, const NextOpen& next) override {
    std::string path = file_;
    OpenParams below_params = params;
    if (file_ == "exportname") {
      path = params.export_name;
      if (path.empty() || path[0] != '/')
        return make_error(EINVAL,
                          "ext2: export name '" + path + "': expected an absolute path in the file system");
      below_params.export_name.clear();  // the plugin serves the file system as its default export
    }
    NBD_TRY_ASSIGN(auto below, next(below_params));
    NBD_TRY_ASSIGN(bool below_writable, below->can_write());
    auto c = std::make_unique<Ext2Connection>(std::move(below));
    NBD_TRY(c->open_fs(path, !params.readonly && below_writable));
    return std::unique_ptr<Connection>(std::move(c));
  }

 private:
  std::string file_;
};

constexpr ParamHelp kParams[] = {
    {"ext2file", "ext2file=PATH|exportname  The file inside the file system to serve (required)."},
};

}  // namespace

extern const FilterInfo ext2_filter_info;
const FilterInfo ext2_filter_info{
    .name = "ext2",
    .description = "nbdkit ext2 filter: serve a file inside an ext2, ext3 or ext4 file system",
    .params = kParams,
    .factory = [] { return std::unique_ptr<Filter>(std::make_unique<Ext2Filter>()); },
};

}  // namespace nbd::filters
