// SPDX-License-Identifier: BSD-3-Clause
// The transmission phase's reply encoding: simple, structured or extended-header replies,
// error replies and chunks, queued per thread in a ReplyBatch and sent by one writer per
// connection (used by Transmitter, see transmission.h).
#pragma once

#include <sys/uio.h>

#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <span>
#include <string_view>
#include <vector>

#include "nbd/protocol.h"
#include "nbd/result.h"
#include "server/io.h"
#include "server/validate.h"

namespace nbd::server {

// A reply buffer that grows without zero-filling, so plugins read straight into it.
class OutBuf {
 public:
  std::byte* append(size_t n);
  void truncate(size_t n) { size_ = n; }
  size_t size() const { return size_; }
  std::byte* data() { return buf_.get(); }
  void clear() { size_ = 0; }

 private:
  std::unique_ptr<std::byte[]> buf_;
  size_t size_ = 0, cap_ = 0;
};

// The replies one thread has encoded and not yet sent. Owned by that thread: not shared.
struct ReplyBatch {
  OutBuf out;
  std::vector<std::byte> scratch;  // error and block status payloads, reused between replies
  std::vector<struct iovec> iov;   // a read sent in pieces (ReplyWriter::flush)
};

// Encodes replies in the form the client negotiated and sends batches of them. The form
// (simple, structured, extended) is fixed when the writer is built, once per connection.
// The encoders only touch the batch they are given and may run on any thread at once;
// flush serializes writes to the socket so replies never interleave.
class ReplyWriter {
 public:
  ReplyWriter(Io& io, const ExportCaps& caps)
      : io_(io), structured_(caps.structured), extended_(caps.extended) {}

  // Success without data: a simple reply, or a final NONE chunk with extended headers.
  void success(ReplyBatch& b, const protocol::Request& r) const;
  // Failure: a simple reply with the error, or a final ERROR chunk (with the message, cut to
  // 1024 bytes) where the spec has one: with extended headers, or on READ/BLOCK_STATUS with
  // structured replies.
  void error(ReplyBatch& b, const protocol::Request& r, const Error& e) const;
  void error(ReplyBatch& b, const protocol::Request& r, uint32_t nbd_error, std::string_view msg) const;

  // A successful read: the reply header that goes in front of r.length bytes of data (a
  // simple reply, or one final OFFSET_DATA chunk). encode_data_header writes exactly
  // data_header_size() bytes at p.
  size_t data_header_size() const;
  void encode_data_header(std::byte* p, const protocol::Request& r) const;

  // The chunks of a read sent in pieces (structured replies only): an OFFSET_DATA chunk
  // header for `length` bytes at `offset` (the data follows it on the wire), or a whole
  // OFFSET_HOLE chunk. Each writes at most kMaxChunkHeader bytes at p and returns how many;
  // `done` marks the reply's last chunk.
  static constexpr size_t kMaxChunkHeader = protocol::kExtendedReplySize + 12;
  size_t encode_data_chunk(std::byte* p, const protocol::Request& r, uint64_t offset, uint64_t length,
                           bool done) const;
  size_t encode_hole_chunk(std::byte* p, const protocol::Request& r, uint64_t offset, uint32_t length,
                           bool done) const;

  // A final BLOCK_STATUS (or BLOCK_STATUS_EXT) chunk for base:allocation.
  void block_status(ReplyBatch& b, const protocol::Request& r,
                    std::span<const protocol::BlockDescriptor> descriptors) const;

  // Sends the batch, then `data` (the payload of the last reply, when it was too large to
  // copy into the batch), in one gathered write; empties the batch. Any thread.
  Status flush(ReplyBatch& b, std::span<const std::byte> data = {});
  // The same with a list of pieces after the batch (the chunks of one read), in one writev.
  Status flush(ReplyBatch& b, std::span<const struct iovec> pieces);
  // A write to the client has failed: the connection is finished.
  bool failed() const { return failed_; }

 private:
  size_t chunk_header_size() const;
  // Writes iov under the write lock, then empties the batch; a failure marks the writer failed.
  Status write(ReplyBatch& b, struct iovec* iov, int n);

  Io& io_;
  const bool structured_, extended_;
  std::mutex write_mu_;
  std::atomic<bool> failed_{false};
};

}  // namespace nbd::server
