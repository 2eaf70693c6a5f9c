// SPDX-License-Identifier: BSD-3-Clause
// nbdcopy's view of a source or destination: an Endpoint (file, block device, pipe, null:,
// NBD server) hands out Channels, one per copy thread, that start reads, writes and zeroes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "nbd/extent.h"
#include "nbd/result.h"

namespace nbd::copy {

// A run of the source is an nbd::Extent (nbd/extent.h): what matters to a copy is whether it
// reads_as_zero() (a hole or a known-zero range).
using nbd::Extent;

// Told once when an operation a Channel started has finished. Owned by the caller; it must
// outlive the operation. complete() may run before the start call returns (synchronous I/O).
class Completion {
 public:
  virtual void complete(Status status) = 0;

 protected:
  ~Completion() = default;
};

// One thread's handle on an endpoint. Not thread-safe: each copy thread owns its own.
// Synchronous channels (files) finish each operation before returning; asynchronous ones
// (NBD) expose an fd for the copier's poll loop and finish operations from notify().
class Channel {
 public:
  virtual ~Channel() = default;
  // Reads exactly buf.size() bytes at offset (short only on a stream at end of input:
  // `got` is then set to the byte count; it is ignored when null).
  virtual void read(std::span<std::byte> buf, uint64_t offset, Completion& c, size_t* got) = 0;
  // Reads and throws away count bytes at offset: the copy to a destination that keeps nothing
  // (null:) still finds every read error. Reads into scratch (count bytes) unless the channel
  // can do better.
  virtual void read_discard(uint64_t count, uint64_t offset, std::span<std::byte> scratch, Completion& c) {
    read(scratch.first(count), offset, c, nullptr);
  }
  virtual void write(std::span<const std::byte> buf, uint64_t offset, Completion& c) = 0;
  // Makes [offset, offset+count) read as zeroes. allocate: keep it allocated (no holes).
  virtual void zero(uint64_t count, uint64_t offset, bool allocate, Completion& c) = 0;
  // Describes [offset, offset+count) of the source; covers the range, may go past it.
  virtual Status extents(uint64_t count, uint64_t offset, std::vector<Extent>& out) = 0;
  virtual Status flush() = 0;
  // Event loop hooks (asynchronous channels only): fd to poll, or -1; POLLIN/POLLOUT wanted.
  virtual int poll_fd() const { return -1; }
  virtual short poll_events() const { return 0; }
  // Moves bytes after poll reported revents on poll_fd(); runs completions.
  virtual Status notify(short /*revents*/) { return ok(); }
  // Blocks until at least one started operation finished (or none is in flight).
  virtual Status wait_one() { return ok(); }
  virtual unsigned in_flight() const { return 0; }
};

class Endpoint {
 public:
  virtual ~Endpoint() = default;
  // How the user named it, for messages ("disk.img", "nbd://host", "null:").
  virtual const std::string& name() const = 0;
  // Size in bytes; nullopt for a stream whose length is unknown until its end.
  virtual std::optional<uint64_t> size() const = 0;
  // Streams (pipes, sockets, stdin/stdout) are read and written in order, one op at a time.
  virtual bool is_stream() const { return false; }
  // How many channels may usefully run in parallel (multi-conn); files: many.
  virtual unsigned max_channels() const { return 64; }
  virtual bool can_extents() const { return false; }
  // A destination that keeps nothing (null:): the data read for it need not reach memory.
  virtual bool discards_writes() const { return false; }
  // Preferred block size of a destination (sparse detection uses at least this).
  virtual uint32_t preferred_block_size() const { return 4096; }
  // True for connections with real network latency (NBD over TCP): they need many bytes in
  // flight. Local endpoints (Unix sockets, files) are fastest with a small, cache-hot queue.
  virtual bool is_remote() const { return false; }
  // Largest request the endpoint accepts, 0 for no limit.
  virtual uint32_t max_request_size() const { return 0; }
  // Destination preparation before copying SIZE bytes. Returns true when the destination is
  // then known to read as zeroes (a regular file truncated to size), so zero runs are skipped.
  virtual Result<bool> prepare_destination(std::optional<uint64_t> source_size) = 0;
  // A new channel; the first call may reuse the connection opened to learn the size.
  virtual Result<std::unique_ptr<Channel>> open_channel() = 0;
};

enum class Role { Source, Destination };

struct EndpointOptions {
  bool verbose = false;
  unsigned connections = 4;
  std::string program = "nbdcopy";  // for messages
};

// Opens SPEC ("-", "null:", a file, a device, an NBD URI, or the words of "[ CMD ... ]"
// without the brackets when `command` is set).
Result<std::unique_ptr<Endpoint>> open_file_endpoint(const std::string& path, Role role);
Result<std::unique_ptr<Endpoint>> open_pipe_endpoint(int fd, const std::string& name, Role role);
Result<std::unique_ptr<Endpoint>> open_null_endpoint();
Result<std::unique_ptr<Endpoint>> open_nbd_endpoint(const std::string& uri, Role role,
                                                    const EndpointOptions& opts);
Result<std::unique_ptr<Endpoint>> open_nbd_command_endpoint(const std::vector<std::string>& argv, Role role,
                                                            const EndpointOptions& opts);

}  // namespace nbd::copy
