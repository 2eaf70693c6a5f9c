// SPDX-License-Identifier: BSD-3-Clause
// POSIX helpers for nbdcopy endpoints (see io_util.h).
#include "io_util.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

namespace nbd::copy {

Result<size_t> pread_full(int fd, std::span<std::byte> buf, uint64_t offset) {
  size_t done = 0;
  while (done < buf.size()) {
    ssize_t r = ::pread(fd, buf.data() + done, buf.size() - done, static_cast<off_t>(offset + done));
    if (r == -1) {
      if (errno == EINTR) continue;
      return errno_error("read", errno);
    }
    if (r == 0) break;
    done += static_cast<size_t>(r);
  }
  return done;
}

Status pwrite_full(int fd, std::span<const std::byte> buf, uint64_t offset) {
  size_t done = 0;
  while (done < buf.size()) {
    ssize_t r = ::pwrite(fd, buf.data() + done, buf.size() - done, static_cast<off_t>(offset + done));
    if (r == -1) {
      if (errno == EINTR) continue;
      return errno_error("write", errno);
    }
    done += static_cast<size_t>(r);
  }
  return ok();
}

Result<size_t> read_full(int fd, std::span<std::byte> buf) {
  size_t done = 0;
  while (done < buf.size()) {
    ssize_t r = ::read(fd, buf.data() + done, buf.size() - done);
    if (r == -1) {
      if (errno == EINTR) continue;
      return errno_error("read", errno);
    }
    if (r == 0) break;
    done += static_cast<size_t>(r);
  }
  return done;
}

Status write_full(int fd, std::span<const std::byte> buf) {
  size_t done = 0;
  while (done < buf.size()) {
    ssize_t r = ::write(fd, buf.data() + done, buf.size() - done);
    if (r == -1) {
      if (errno == EINTR) continue;
      return errno_error("write", errno);
    }
    done += static_cast<size_t>(r);
  }
  return ok();
}

Status write_zeroes(int fd, uint64_t count, uint64_t offset) {
  auto zeroes = zero_buffer();
  while (count > 0) {
    auto n = static_cast<size_t>(std::min<uint64_t>(count, zeroes.size()));
    if (offset == kStreamOffset) {
      NBD_TRY(write_full(fd, zeroes.first(n)));
    } else {
      NBD_TRY(pwrite_full(fd, zeroes.first(n), offset));
      offset += n;
    }
    count -= n;
  }
  return ok();
}

Status seek_extents(int fd, uint64_t count, uint64_t offset, std::vector<Extent>& out) {
  const uint64_t end = offset + count;
  while (offset < end) {
    off_t data = ::lseek(fd, static_cast<off_t>(offset), SEEK_DATA);
    if (data == -1) {
      if (errno == ENXIO) {  // only a hole up to end of file
        out.push_back({offset, end - offset, kExtentHole | kExtentZero});
        return ok();
      }
      out.push_back({offset, end - offset, 0});  // SEEK_DATA unsupported: all data
      return ok();
    }
    auto d = static_cast<uint64_t>(data);
    if (d > offset) {
      out.push_back({offset, std::min(d, end) - offset, kExtentHole | kExtentZero});
      offset = std::min(d, end);
      if (offset >= end) break;
    }
    off_t hole = ::lseek(fd, static_cast<off_t>(offset), SEEK_HOLE);
    uint64_t h = hole == -1 ? end : std::min(static_cast<uint64_t>(hole), end);
    if (h <= offset) h = end;
    out.push_back({offset, h - offset, 0});
    offset = h;
  }
  return ok();
}

}  // namespace nbd::copy
