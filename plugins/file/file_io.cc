// SPDX-License-Identifier: BSD-3-Clause
// file plugin I/O: pread/pwrite loops, fdatasync for flush and FUA, holes through
// SEEK_DATA/SEEK_HOLE, trim and zero through fallocate (and BLKZEROOUT on block devices).
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "file.h"
#include "nbd/log.h"

namespace nbd::plugins::file {
namespace {

DebugFlag g_debug_zero{"file", "zero"};  // -D file.zero=1

bool unsupported(int e) {
  return e == EOPNOTSUPP || e == ENOTSUP || e == ENOSYS || e == ENODEV || e == ENOTTY;
}

// /sys/dev/block/MAJ:MIN/queue/rotational, or the parent disk's for a partition.
bool rotational(dev_t dev) {
  std::string base = "/sys/dev/block/" + std::to_string(major(dev)) + ":" + std::to_string(minor(dev));
  for (const char* rel : {"/queue/rotational", "/../queue/rotational"}) {
    std::ifstream f(base + rel);
    int v = 0;
    if (f >> v) return v == 1;
  }
  return false;
}

class FileConnection final : public Connection {
 public:
  FileConnection(int fd, std::string name, bool writable, bool is_block, const IoOptions& o)
      : fd_(fd), name_(std::move(name)), writable_(writable), is_block_(is_block), opts_(o) {}
  ~FileConnection() override { ::close(fd_); }

  Result<uint64_t> get_size() override {
    if (is_block_) {
      uint64_t size = 0;
      if (ioctl(fd_, BLKGETSIZE64, &size) == -1) return sys_error("BLKGETSIZE64");
      return size;
    }
    struct stat st;
    if (fstat(fd_, &st) == -1) return sys_error("fstat");
    return static_cast<uint64_t>(st.st_size);
  }
  Result<BlockSize> block_size() override {
    if (!is_block_) return BlockSize{};
    unsigned int phys = 0;
    if (ioctl(fd_, BLKPBSZGET, &phys) == -1 || phys < 512 || (phys & (phys - 1))) phys = 4096;
    return BlockSize{1, phys, 0xffffffff};
  }
  // Only for devices, like upstream: for a regular file the answer about the filesystem's
  // disk would say little about the file.
  Result<bool> is_rotational() override {
    struct stat st;
    if (!is_block_ || fstat(fd_, &st) == -1) return false;
    return rotational(st.st_rdev);
  }
  Result<bool> can_write() override { return writable_; }
  Result<bool> can_flush() override { return true; }
  Result<bool> can_trim() override { return true; }
  Result<ZeroMode> can_zero() override { return ZeroMode::Native; }
  Result<bool> can_extents() override { return !is_block_; }
  Result<FuaMode> can_fua() override { return FuaMode::Native; }
  // Every connection opens the same file, and flush is fdatasync on it.
  Result<bool> can_multi_conn() override { return true; }
  Result<CacheMode> can_cache() override { return CacheMode::Native; }

  Status pread(std::span<std::byte> buf, uint64_t offset, uint32_t) override {
    for (size_t done = 0; done < buf.size();) {
      ssize_t r = ::pread(fd_, buf.data() + done, buf.size() - done, static_cast<off_t>(offset + done));
      if (r == -1 && errno == EINTR) continue;
      if (r == -1) return sys_error("pread");
      if (r == 0) return make_error(EIO, name_ + ": pread: unexpected end of file");
      done += static_cast<size_t>(r);
    }
    if (opts_.cache == Cache::None) evict(offset, buf.size(), false);
    return ok();
  }

  Status pwrite(std::span<const std::byte> buf, uint64_t offset, uint32_t flags) override {
    for (size_t done = 0; done < buf.size();) {
      ssize_t r = ::pwrite(fd_, buf.data() + done, buf.size() - done, static_cast<off_t>(offset + done));
      if (r == -1 && errno == EINTR) continue;
      if (r == -1) return sys_error("pwrite");
      done += static_cast<size_t>(r);
    }
    if (opts_.cache == Cache::None) evict(offset, buf.size(), true);
    return fua(flags);
  }

  Status flush(uint32_t) override {
    if (fdatasync(fd_) == -1) return sys_error("fdatasync");
    return ok();
  }

  // Trim is advisory: where holes cannot be punched it does nothing.
  Status trim(uint64_t count, uint64_t offset, uint32_t flags) override {
    if (can_punch_) {
      auto r = try_fallocate(nullptr, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, count, can_punch_);
      if (!r) return std::move(r).error();
    }
    return fua(flags);
  }

  Status zero(uint64_t count, uint64_t offset, uint32_t flags) override;
  Status extents(uint64_t count, uint64_t offset, uint32_t flags, ExtentList& e) override;

  Status cache(uint64_t count, uint64_t offset, uint32_t) override {
    int e = posix_fadvise(fd_, static_cast<off_t>(offset), static_cast<off_t>(count), POSIX_FADV_WILLNEED);
    if (e != 0 && !unsupported(e)) return make_error(e, name_ + ": posix_fadvise: " + std::strerror(e));
    return ok();
  }

 private:
  Error sys_error(const char* what) const {
    int e = errno;
    return make_error(e, name_ + ": " + what + ": " + std::strerror(e));
  }
  Status fua(uint32_t flags) { return (flags & kFua) ? flush(0) : ok(); }

  // Result: true = done, false = this method is not supported here (and is now disabled).
  Result<bool> try_fallocate(const char* what, int mode, uint64_t offset, uint64_t count,
                             std::atomic<bool>& enabled) {
    if (fallocate(fd_, mode, static_cast<off_t>(offset), static_cast<off_t>(count)) == 0) {
      debug_zero_method(what, "succeeded", offset, count);
      return true;
    }
    if (unsupported(errno) || (errno == EINVAL && is_block_)) {
      debug_zero_method(what, "is not supported here: not tried again", offset, count);
      enabled = false;
      return false;
    }
    return sys_error("fallocate");
  }
  // -D file.zero=1: which way each zero request went.
  static void debug_zero_method(const char* what, const char* outcome, uint64_t offset, uint64_t count) {
    if (what && g_debug_zero)
      log::debug("file: zero count=%llu offset=%llu: %s %s", static_cast<unsigned long long>(count),
                 static_cast<unsigned long long>(offset), what, outcome);
  }

  // cache=none: write the range back and drop it from the page cache.
  void evict(uint64_t offset, uint64_t count, bool written) {
    if (written) {
      sync_file_range(fd_, static_cast<off_t>(offset), static_cast<off_t>(count),
                      SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER);
    }
    posix_fadvise(fd_, static_cast<off_t>(offset), static_cast<off_t>(count), POSIX_FADV_DONTNEED);
  }

  Result<bool> zero_fast(uint64_t count, uint64_t offset, uint32_t flags);

  int fd_;
  std::string name_;
  bool writable_, is_block_;
  IoOptions opts_;
  std::atomic<bool> can_punch_{true}, can_zero_range_{true}, can_zeroout_{true};
};

// Tries the ways to zero without writing data; false if none applies.
Result<bool> FileConnection::zero_fast(uint64_t count, uint64_t offset, uint32_t flags) {
  if ((flags & kMayTrim) && can_punch_) {
    NBD_TRY_ASSIGN(bool done,
                   try_fallocate("fallocate(PUNCH_HOLE)", FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset,
                                 count, can_punch_));
    if (done) return true;
  }
  if (can_zero_range_) {
    NBD_TRY_ASSIGN(bool done,
                   try_fallocate("fallocate(ZERO_RANGE)", FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, offset,
                                 count, can_zero_range_));
    if (done) return true;
  }
  if (is_block_ && can_zeroout_ && offset % 512 == 0 && count % 512 == 0) {
    uint64_t range[2] = {offset, count};
    if (ioctl(fd_, BLKZEROOUT, range) == 0) {
      debug_zero_method("ioctl(BLKZEROOUT)", "succeeded", offset, count);
      return true;
    }
    if (!unsupported(errno) && errno != EINVAL) return sys_error("BLKZEROOUT");
    debug_zero_method("ioctl(BLKZEROOUT)", "is not supported here: not tried again", offset, count);
    can_zeroout_ = false;
  }
  // A regular file without ZERO_RANGE (tmpfs, older filesystems): punch, then reallocate
  // unless the client allowed a hole.
  if (!is_block_ && can_punch_) {
    NBD_TRY_ASSIGN(bool done,
                   try_fallocate("fallocate(PUNCH_HOLE) then allocate",
                                 FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, count, can_punch_));
    if (done) {
      if (!(flags & kMayTrim))
        fallocate(fd_, FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset), static_cast<off_t>(count));
      return true;
    }
  }
  return false;
}

Status FileConnection::zero(uint64_t count, uint64_t offset, uint32_t flags) {
  NBD_TRY_ASSIGN(bool done, zero_fast(count, offset, flags));
  // ENOTSUP makes the server write zero buffers instead (or fail a fast zero).
  if (!done) {
    debug_zero_method("no efficient method:", (flags & kFastZero) ? "fast zero fails" : "writing zeroes",
                      offset, count);
    return make_error(ENOTSUP, name_ + ": zero: no efficient method on this file");
  }
  if (opts_.cache == Cache::None) evict(offset, count, true);
  return fua(flags);
}

Status FileConnection::extents(uint64_t count, uint64_t offset, uint32_t flags, ExtentList& e) {
  const uint64_t end = offset + count;
  for (uint64_t pos = offset; pos < end;) {
    off_t data = lseek(fd_, static_cast<off_t>(pos), SEEK_DATA);
    if (data == -1 && errno != ENXIO) return sys_error("lseek SEEK_DATA");
    uint64_t next;
    if (data == -1 || static_cast<uint64_t>(data) > pos) {
      // A hole up to the next data, or to the end of the file (ENXIO).
      next = data == -1 ? end : std::min<uint64_t>(static_cast<uint64_t>(data), end);
      NBD_TRY(e.add(pos, next - pos, kExtentHole | kExtentZero));
    } else {
      off_t hole = lseek(fd_, static_cast<off_t>(pos), SEEK_HOLE);
      if (hole == -1) return sys_error("lseek SEEK_HOLE");
      next = std::min<uint64_t>(static_cast<uint64_t>(hole), end);
      if (next <= pos) next = end;  // the file shrank under us: call the rest data
      NBD_TRY(e.add(pos, next - pos, 0));
    }
    pos = next;
    if (flags & kReqOne) break;
  }
  return ok();
}

}  // namespace

Result<std::unique_ptr<Connection>> make_file_connection(int fd, std::string name, bool writable,
                                                         const IoOptions& opts) {
  struct stat st;
  if (fstat(fd, &st) == -1) {
    int e = errno;
    ::close(fd);
    return make_error(e, name + ": fstat: " + std::strerror(e));
  }
  if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
    ::close(fd);
    return make_error(EINVAL, name + ": not a regular file or block device");
  }
  int advice = opts.fadvise == Fadvise::Random       ? POSIX_FADV_RANDOM
               : opts.fadvise == Fadvise::Sequential ? POSIX_FADV_SEQUENTIAL
                                                     : POSIX_FADV_NORMAL;
  posix_fadvise(fd, 0, 0, advice);  // only a hint: ignore failure
  return std::unique_ptr<Connection>(
      std::make_unique<FileConnection>(fd, std::move(name), writable, S_ISBLK(st.st_mode), opts));
}

Result<std::unique_ptr<Connection>> open_file(const std::string& path, bool readonly, const IoOptions& opts) {
  int fd = -1;
  bool writable = false;
  if (!readonly) {
    fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    writable = fd != -1;
    if (fd == -1 && errno != EACCES && errno != EROFS && errno != EPERM) {
      int e = errno;
      return make_error(e, path + ": open: " + std::strerror(e));
    }
  }
  if (fd == -1) fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd == -1) {
    int e = errno;
    return make_error(e, path + ": open: " + std::strerror(e));
  }
  return make_file_connection(fd, path, writable, opts);
}

}  // namespace nbd::plugins::file
