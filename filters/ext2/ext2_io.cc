// SPDX-License-Identifier: BSD-3-Clause
// The ext2 filter's io_manager (see ext2_io.h). The device name carries the address of a small
// record (below layer, size, last error); open finds it there.
#include "ext2_io.h"

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <unordered_map>

namespace nbd::filters::ext2 {
namespace {

struct Device {
  Connection* below;
  uint64_t size;
  std::string last_error;
};

// Devices by the name given to libext2fs (one per connection; few at once).
std::mutex g_mu;
std::unordered_map<std::string, Device>& devices() {
  static auto* m = new std::unordered_map<std::string, Device>;
  return *m;
}

std::string key_of(Connection* below) {
  char name[48];
  std::snprintf(name, sizeof name, "nbd-layer:%p", static_cast<void*>(below));
  return name;
}

Device* device_of(io_channel ch) { return static_cast<Device*>(ch->private_data); }

errcode_t fail(Device* d, const Error& e) {
  std::lock_guard lock(g_mu);
  d->last_error = e.message;
  return e.errnum ? e.errnum : EIO;
}

// count > 0: blocks of the channel's block size; count < 0: -count bytes (libext2fs's rule).
errcode_t transfer(io_channel ch, unsigned long long block, int count, void* rd, const void* wr) {
  Device* d = device_of(ch);
  const uint64_t bytes = count < 0 ? uint64_t(-int64_t(count)) : uint64_t(count) * uint64_t(ch->block_size);
  const uint64_t offset = block * uint64_t(ch->block_size);
  if (offset > d->size || bytes > d->size - offset)
    return fail(d, make_error(EIO, "the file system reaches past the end of its image (offset " +
                                       std::to_string(offset) + ", " + std::to_string(bytes) + " bytes)"));
  Status s = rd ? d->below->pread({static_cast<std::byte*>(rd), size_t(bytes)}, offset, 0)
                : d->below->pwrite({static_cast<const std::byte*>(wr), size_t(bytes)}, offset, 0);
  return s ? 0 : fail(d, s.error());
}

errcode_t io_open(const char* name, int /*flags*/, io_channel* out) {
  Device* d;
  {
    std::lock_guard lock(g_mu);
    auto it = devices().find(name);
    if (it == devices().end()) return EXT2_ET_BAD_DEVICE_NAME;
    d = &it->second;
  }
  io_channel ch = nullptr;
  if (errcode_t e = ext2fs_get_memzero(sizeof *ch, &ch)) return e;
  ch->magic = EXT2_ET_MAGIC_IO_CHANNEL;
  ch->manager = connection_io_manager();
  if (errcode_t e = ext2fs_get_mem(std::strlen(name) + 1, &ch->name)) {
    ext2fs_free_mem(&ch);
    return e;
  }
  std::strcpy(ch->name, name);
  ch->block_size = 1024;
  ch->refcount = 1;
  ch->private_data = d;
  *out = ch;
  return 0;
}

errcode_t io_close(io_channel ch) {
  if (--ch->refcount > 0) return 0;
  ext2fs_free_mem(&ch->name);
  ext2fs_free_mem(&ch);
  return 0;
}

errcode_t io_set_blksize(io_channel ch, int blksize) {
  ch->block_size = blksize;
  return 0;
}
errcode_t io_read64(io_channel ch, unsigned long long block, int count, void* data) {
  return transfer(ch, block, count, data, nullptr);
}
errcode_t io_write64(io_channel ch, unsigned long long block, int count, const void* data) {
  return transfer(ch, block, count, nullptr, data);
}
errcode_t io_read(io_channel ch, unsigned long block, int count, void* data) {
  return io_read64(ch, block, count, data);
}
errcode_t io_write(io_channel ch, unsigned long block, int count, const void* data) {
  return io_write64(ch, block, count, data);
}
errcode_t io_write_byte(io_channel ch, unsigned long offset, int count, const void* data) {
  Device* d = device_of(ch);
  if (count < 0 || offset > d->size || uint64_t(count) > d->size - offset) return EXT2_ET_LLSEEK_FAILED;
  Status s = d->below->pwrite({static_cast<const std::byte*>(data), size_t(count)}, offset, 0);
  return s ? 0 : fail(d, s.error());
}
errcode_t io_flush(io_channel ch) {
  Device* d = device_of(ch);
  Result<bool> can = d->below->can_flush();
  if (!can || !*can) return 0;
  Status s = d->below->flush(0);
  return s ? 0 : fail(d, s.error());
}
errcode_t io_set_option(io_channel, const char*, const char*) { return EXT2_ET_INVALID_ARGUMENT; }

struct_io_manager g_manager = [] {
  struct_io_manager m{};
  m.magic = EXT2_ET_MAGIC_IO_MANAGER;
  m.name = "nbdkit++ layer below";
  m.open = io_open;
  m.close = io_close;
  m.set_blksize = io_set_blksize;
  m.read_blk = io_read;
  m.write_blk = io_write;
  m.flush = io_flush;
  m.write_byte = io_write_byte;
  m.set_option = io_set_option;
  m.read_blk64 = io_read64;
  m.write_blk64 = io_write64;
  return m;
}();

}  // namespace

io_manager connection_io_manager() { return &g_manager; }

std::string device_name(Connection* below, uint64_t size) {
  std::string name = key_of(below);
  std::lock_guard lock(g_mu);
  devices()[name] = Device{below, size, {}};
  return name;
}

std::string last_device_error(Connection* below) {
  std::lock_guard lock(g_mu);
  auto it = devices().find(key_of(below));
  return it == devices().end() ? std::string() : it->second.last_error;
}

void forget_device(Connection* below) {
  std::lock_guard lock(g_mu);
  devices().erase(key_of(below));
}

}  // namespace nbd::filters::ext2
