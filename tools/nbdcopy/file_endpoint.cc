// SPDX-License-Identifier: BSD-3-Clause
// Regular files and block devices: positioned I/O on one shared fd, holes found with
// SEEK_DATA/SEEK_HOLE, zeroes written by punching holes (files) or BLKZEROOUT (devices).
// A destination keeps the page cache in check behind its writes (PageCacheWindow).
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <vector>

#include "endpoint.h"
#include "io_util.h"

namespace nbd::copy {
namespace {

// Left alone, a copy of gigabytes into a file fills the page cache with dirty pages until the
// kernel throttles every writer in balance_dirty_pages: each 1 MiB pwrite then blocked ~2 ms at
// random, and a 2 GiB copy took 1.0 to 6.6 s. Instead each channel starts writeback as soon as it
// has written a range, and once more than kWindow bytes are behind it, waits for the oldest range
// to reach the disk and drops it from the cache. The dirty set stays small and even, the copy
// does not evict the rest of the machine's cache, and the pace is the disk's.
class PageCacheWindow {
 public:
  static constexpr uint64_t kWindow = 16 << 20;

  void written(int fd, uint64_t offset, uint64_t count) {
    ::sync_file_range(fd, static_cast<off_t>(offset), static_cast<off_t>(count), SYNC_FILE_RANGE_WRITE);
    ranges_.push_back({offset, count});
    behind_ += count;
    while (behind_ > kWindow) {
      auto [o, n] = ranges_.front();
      ranges_.pop_front();
      behind_ -= n;
      ::sync_file_range(fd, static_cast<off_t>(o), static_cast<off_t>(n),
                        SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER);
      ::posix_fadvise(fd, static_cast<off_t>(o), static_cast<off_t>(n), POSIX_FADV_DONTNEED);
    }
  }

 private:
  std::deque<std::pair<uint64_t, uint64_t>> ranges_;
  uint64_t behind_ = 0;
};

class FileChannel final : public Channel {
 public:
  FileChannel(int fd, bool is_block, bool is_destination)
      : fd_(fd), is_block_(is_block), is_destination_(is_destination) {}

  void read(std::span<std::byte> buf, uint64_t offset, Completion& c, size_t* got) override {
    auto r = pread_full(fd_, buf, offset);
    if (got && r) *got = *r;
    if (r && *r != buf.size()) {
      c.complete(make_error(EIO, "read at offset " + std::to_string(offset) + ": unexpected end of file"));
      return;
    }
    c.complete(r ? ok() : Status(std::move(r).error()));
  }

  void write(std::span<const std::byte> buf, uint64_t offset, Completion& c) override {
    Status st = pwrite_full(fd_, buf, offset);
    if (st && is_destination_) window_.written(fd_, offset, buf.size());
    c.complete(std::move(st));
  }

  void zero(uint64_t count, uint64_t offset, bool allocate, Completion& c) override {
    c.complete(zero_range(count, offset, allocate));
  }

  Status extents(uint64_t count, uint64_t offset, std::vector<Extent>& out) override {
    if (is_block_) {
      out.push_back({offset, count, 0});
      return ok();
    }
    return seek_extents(fd_, count, offset, out);
  }

  Status flush() override {
    if (::fdatasync(fd_) == -1) return make_error(errno, std::string("fdatasync: ") + std::strerror(errno));
    return ok();
  }

 private:
  Status zero_range(uint64_t count, uint64_t offset, bool allocate) {
    if (is_block_) {
      uint64_t range[2] = {offset, count};
      if (::ioctl(fd_, BLKZEROOUT, range) == 0) return ok();
    } else {
      int mode = allocate ? FALLOC_FL_ZERO_RANGE : (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE);
      if (::fallocate(fd_, mode, static_cast<off_t>(offset), static_cast<off_t>(count)) == 0) return ok();
      if (!allocate &&
          ::fallocate(fd_, FALLOC_FL_ZERO_RANGE, static_cast<off_t>(offset), static_cast<off_t>(count)) == 0)
        return ok();
    }
    return write_zeroes(fd_, count, offset);  // no kernel support: plain writes
  }

  int fd_;
  bool is_block_;
  bool is_destination_;
  PageCacheWindow window_;
};

class FileEndpoint final : public Endpoint {
 public:
  FileEndpoint(std::string name, int fd, bool is_block, uint64_t size, Role role)
      : name_(std::move(name)), fd_(fd), is_block_(is_block), size_(size), role_(role) {}
  ~FileEndpoint() override { ::close(fd_); }

  const std::string& name() const override { return name_; }
  std::optional<uint64_t> size() const override { return size_; }
  bool can_extents() const override { return !is_block_; }

  Result<bool> prepare_destination(std::optional<uint64_t> source_size) override {
    if (is_block_) return false;
    // Like upstream: a regular file becomes exactly the source's size and starts all zero
    // (truncate to 0 first), so zero runs need no writes and stay sparse.
    uint64_t target = source_size.value_or(0);
    if (::ftruncate(fd_, 0) == -1 || ::ftruncate(fd_, static_cast<off_t>(target)) == -1)
      return make_error(errno, name_ + ": truncate: " + std::strerror(errno));
    size_ = target;
    return true;
  }

  Result<std::unique_ptr<Channel>> open_channel() override {
    return std::unique_ptr<Channel>(
        std::make_unique<FileChannel>(fd_, is_block_, role_ == Role::Destination));
  }

 private:
  std::string name_;
  int fd_;
  bool is_block_;
  uint64_t size_;
  Role role_;
};

}  // namespace

Result<std::unique_ptr<Endpoint>> open_file_endpoint(const std::string& path, Role role) {
  int flags = role == Role::Source ? O_RDONLY : (O_WRONLY | O_CREAT);
  int fd = ::open(path.c_str(), flags | O_CLOEXEC, 0644);
  if (fd == -1) return make_error(errno, path + ": " + std::strerror(errno));
  struct stat st;
  if (::fstat(fd, &st) == -1) {
    int e = errno;
    ::close(fd);
    return make_error(e, path + ": fstat: " + std::strerror(e));
  }
  if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) return open_pipe_endpoint(fd, path, role);
  uint64_t size = static_cast<uint64_t>(st.st_size);
  if (S_ISBLK(st.st_mode) && ::ioctl(fd, BLKGETSIZE64, &size) == -1) {
    int e = errno;
    ::close(fd);
    return make_error(e, path + ": BLKGETSIZE64: " + std::strerror(e));
  }
  return std::unique_ptr<Endpoint>(std::make_unique<FileEndpoint>(path, fd, S_ISBLK(st.st_mode), size, role));
}

}  // namespace nbd::copy
