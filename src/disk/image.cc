// SPDX-License-Identifier: BSD-3-Clause
// Serving an open image file (see image.h).
#include "disk/image.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "common/zero.h"

namespace nbd::vdisk {

Status read_fully(int fd, std::span<std::byte> buf, uint64_t offset) {
  while (!buf.empty()) {
    ssize_t r = ::pread(fd, buf.data(), buf.size(), static_cast<off_t>(offset));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return errno_error("pread");
    if (r == 0) return make_error(EIO, "pread: unexpected end of file");
    buf = buf.subspan(static_cast<size_t>(r));
    offset += static_cast<uint64_t>(r);
  }
  return ok();
}

Status write_fully(int fd, std::span<const std::byte> buf, uint64_t offset) {
  while (!buf.empty()) {
    ssize_t r = ::pwrite(fd, buf.data(), buf.size(), static_cast<off_t>(offset));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return errno_error("pwrite");
    buf = buf.subspan(static_cast<size_t>(r));
    offset += static_cast<uint64_t>(r);
  }
  return ok();
}

Status file_extents(int fd, uint64_t count, uint64_t offset, uint64_t base, ExtentList& e) {
  uint64_t pos = offset, end = offset + count;
  while (pos < end) {
    off_t data = ::lseek(fd, static_cast<off_t>(pos), SEEK_DATA);
    if (data < 0 && errno != ENXIO) return e.add(base + pos, end - pos, 0);
    uint64_t d = data < 0 ? end : std::min<uint64_t>(static_cast<uint64_t>(data), end);
    if (d > pos) {
      NBD_TRY(e.add(base + pos, d - pos, kExtentHole | kExtentZero));
      pos = d;
      continue;
    }
    off_t hole = ::lseek(fd, static_cast<off_t>(pos), SEEK_HOLE);
    uint64_t h = hole < 0 ? end : std::min<uint64_t>(static_cast<uint64_t>(hole), end);
    if (h <= pos) h = end;
    NBD_TRY(e.add(base + pos, h - pos, 0));
    pos = h;
  }
  return ok();
}

ImageConnection::~ImageConnection() {
  if (owns_fd_) ::close(fd_);
}

Status ImageConnection::flush(uint32_t) {
  if (::fdatasync(fd_) < 0) return errno_error("fdatasync");
  return ok();
}

Status ImageConnection::trim(uint64_t count, uint64_t offset, uint32_t) {
  // Trim is advisory: a filesystem without hole punching simply keeps the data.
  if (::fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
                  static_cast<off_t>(count)) < 0 &&
      errno != EOPNOTSUPP)
    return errno_error("fallocate");
  return ok();
}

Status ImageConnection::zero(uint64_t count, uint64_t offset, uint32_t flags) {
  int mode = (flags & kMayTrim) ? FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE : FALLOC_FL_ZERO_RANGE;
  if (::fallocate(fd_, mode, static_cast<off_t>(offset), static_cast<off_t>(count)) == 0) return ok();
  if (errno != EOPNOTSUPP) return errno_error("fallocate");
  if (flags & kFastZero) return make_error(ENOTSUP, "fast zero is not supported here");
  auto zeroes = zero_buffer();
  while (count > 0) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(count, zeroes.size()));
    NBD_TRY(write_fully(fd_, zeroes.first(n), offset));
    count -= n;
    offset += n;
  }
  return ok();
}

}  // namespace nbd::vdisk
