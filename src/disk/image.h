// SPDX-License-Identifier: BSD-3-Clause
// A Connection serving an open image file: the common back end of the iso, linuxdisk, tmpdisk
// and ondemand plugins. Reads, writes (when writable), flush, trim and zero by fallocate, and
// extents from SEEK_DATA/SEEK_HOLE.
#pragma once

#include <cstdint>

#include "nbd/plugin.h"

namespace nbd::vdisk {

// pread/pwrite of the whole buffer (short transfers retried; EOF is EIO).
Status read_fully(int fd, std::span<std::byte> buf, uint64_t offset);
Status write_fully(int fd, std::span<const std::byte> buf, uint64_t offset);
// Appends the data/hole extents of [offset, offset+count) of fd, shifted by `base`.
Status file_extents(int fd, uint64_t count, uint64_t offset, uint64_t base, ExtentList& e);

class ImageConnection : public Connection {
 public:
  // Closes fd on destruction when owns_fd (which also drops any lock held on it).
  ImageConnection(int fd, uint64_t size, bool writable, bool owns_fd, bool multi_conn)
      : fd_(fd), size_(size), writable_(writable), owns_fd_(owns_fd), multi_conn_(multi_conn) {}
  ~ImageConnection() override;

  Result<uint64_t> get_size() override { return size_; }
  Result<bool> can_write() override { return writable_; }
  Result<bool> can_flush() override { return writable_; }
  Result<bool> can_trim() override { return writable_; }
  Result<ZeroMode> can_zero() override { return writable_ ? ZeroMode::Native : ZeroMode::None; }
  Result<bool> can_extents() override { return true; }
  Result<bool> can_multi_conn() override { return multi_conn_; }
  Result<FuaMode> can_fua() override { return writable_ ? FuaMode::Emulate : FuaMode::None; }

  Status pread(std::span<std::byte> buf, uint64_t offset, uint32_t) override {
    return read_fully(fd_, buf, offset);
  }
  Status pwrite(std::span<const std::byte> buf, uint64_t offset, uint32_t) override {
    return write_fully(fd_, buf, offset);
  }
  Status flush(uint32_t) override;
  Status trim(uint64_t count, uint64_t offset, uint32_t) override;
  Status zero(uint64_t count, uint64_t offset, uint32_t flags) override;
  Status extents(uint64_t count, uint64_t offset, uint32_t, ExtentList& e) override {
    return file_extents(fd_, count, offset, 0, e);
  }

 private:
  int fd_;
  uint64_t size_;
  bool writable_, owns_fd_, multi_conn_;
};

}  // namespace nbd::vdisk
