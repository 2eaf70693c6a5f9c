// SPDX-License-Identifier: BSD-3-Clause
// split plugin: several plain files concatenated into one disk, in command-line order.
// Requests that cross a file boundary are split; extents come from SEEK_DATA/SEEK_HOLE
// (the file helpers are shared with the image plugins, in plugins/tmpdisk/image.h).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "disk/image.h"
#include "nbd/plugin.h"

namespace nbd::plugins {
namespace {

struct OpenFile {
  std::string name;
  int fd = -1;
  uint64_t offset = 0;  // where the file begins on the virtual disk
  uint64_t size = 0;
};

class SplitConnection final : public Connection {
 public:
  explicit SplitConnection(bool readonly) : readonly_(readonly) {}
  ~SplitConnection() override {
    for (auto& f : files_)
      if (f.fd >= 0) ::close(f.fd);
  }

  Status add_file(const std::string& name) {
    int fd = ::open(name.c_str(), (readonly_ ? O_RDONLY : O_RDWR) | O_CLOEXEC);
    if (fd < 0) return errno_error("open: " + name);
    files_.push_back({name, fd, size_, 0});
    struct stat st;
    if (::fstat(fd, &st) < 0) return errno_error("stat: " + name);
    if (!S_ISREG(st.st_mode)) return make_error(EINVAL, name + ": not a regular file");
    files_.back().size = static_cast<uint64_t>(st.st_size);
    size_ += files_.back().size;
    return ok();
  }

  Result<uint64_t> get_size() override { return size_; }
  Result<bool> can_write() override { return !readonly_; }
  Result<bool> can_flush() override { return true; }
  Result<bool> can_extents() override { return true; }
  Result<FuaMode> can_fua() override { return FuaMode::Emulate; }

  Status pread(std::span<std::byte> buf, uint64_t offset, uint32_t) override {
    return for_each_piece(buf.size(), offset,
                          [&](OpenFile& f, size_t done, size_t n, uint64_t foff) -> Status {
                            return io_full(f, buf.data() + done, n, foff, false);
                          });
  }

  Status pwrite(std::span<const std::byte> buf, uint64_t offset, uint32_t) override {
    return for_each_piece(buf.size(), offset,
                          [&](OpenFile& f, size_t done, size_t n, uint64_t foff) -> Status {
                            return io_full(f, const_cast<std::byte*>(buf.data()) + done, n, foff, true);
                          });
  }

  Status flush(uint32_t) override {
    for (auto& f : files_)
      if (::fdatasync(f.fd) < 0) return errno_error("fdatasync: " + f.name);
    return ok();
  }

  Status extents(uint64_t count, uint64_t offset, uint32_t, ExtentList& e) override {
    return for_each_piece(count, offset, [&](OpenFile& f, size_t, size_t n, uint64_t foff) -> Status {
      return vdisk::file_extents(f.fd, n, foff, f.offset, e);
    });
  }

 private:
  // Calls fn(file, bytes done so far, piece length, offset within file) for each file the
  // range [offset, offset+count) touches.
  template <class Fn>
  Status for_each_piece(uint64_t count, uint64_t offset, Fn&& fn) {
    auto it = std::upper_bound(files_.begin(), files_.end(), offset,
                               [](uint64_t o, const OpenFile& f) { return o < f.offset; });
    NBD_ASSERT(it != files_.begin());
    --it;
    uint64_t done = 0;
    while (done < count) {
      NBD_ASSERT(it != files_.end());
      uint64_t foff = offset + done - it->offset;
      uint64_t n = std::min(count - done, it->size - foff);
      if (n > 0) NBD_TRY(fn(*it, done, n, foff));
      done += n;
      ++it;
    }
    return ok();
  }

  static Status io_full(OpenFile& f, std::byte* p, size_t n, uint64_t foff, bool write) {
    auto r = write ? vdisk::write_fully(f.fd, std::span<const std::byte>(p, n), foff)
                   : vdisk::read_fully(f.fd, std::span<std::byte>(p, n), foff);
    if (!r) return make_error(r.error().errnum, f.name + ": " + r.error().message);
    return ok();
  }

  bool readonly_;
  uint64_t size_ = 0;
  std::vector<OpenFile> files_;
};

class SplitPlugin final : public Plugin {
 public:
  Status config(std::string_view key, std::string_view value) override {
    if (key == "file") {
      files_.emplace_back(value);
      return ok();
    }
    return Plugin::config(key, value);
  }
  Status config_complete() override {
    if (files_.empty()) return make_error(EINVAL, "you must supply at least one file=FILENAME parameter");
    return ok();
  }
  Result<std::unique_ptr<Connection>> open(const OpenParams& params) override {
    auto c = std::make_unique<SplitConnection>(params.readonly);
    for (const auto& f : files_) NBD_TRY(c->add_file(f));
    return std::unique_ptr<Connection>(std::move(c));
  }

 private:
  std::vector<std::string> files_;
};

constexpr ParamHelp kParams[] = {
    {"file", "[file=]FILENAME  A file to concatenate (repeat for each file, in order)."},
};

}  // namespace

extern const PluginInfo split_plugin_info;
const PluginInfo split_plugin_info{
    .name = "split",
    .description = "nbdkit split plugin: concatenates several files into one disk",
    .magic_config_key = "file",
    .params = kParams,
    .factory = [] { return std::unique_ptr<Plugin>(std::make_unique<SplitPlugin>()); },
};

}  // namespace nbd::plugins
