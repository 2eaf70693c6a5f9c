// SPDX-License-Identifier: BSD-3-Clause
// ReplyWriter and OutBuf: see reply_writer.h.
#include "server/reply_writer.h"

#include <sys/uio.h>

#include <algorithm>

namespace nbd::server {

using namespace nbd::protocol;

std::byte* OutBuf::append(size_t n) {
  if (size_ + n > cap_) {
    size_t cap = std::max({cap_ * 2, size_ + n, size_t(64 * 1024)});
    std::unique_ptr<std::byte[]> b(new std::byte[cap]);
    if (size_) std::copy(buf_.get(), buf_.get() + size_, b.get());
    buf_ = std::move(b);
    cap_ = cap;
  }
  std::byte* p = buf_.get() + size_;
  size_ += n;
  return p;
}

size_t ReplyWriter::chunk_header_size() const {
  return extended_ ? kExtendedReplySize : kStructuredReplySize;
}

void ReplyWriter::success(ReplyBatch& b, const Request& r) const {
  if (extended_)
    encode_chunk_header(b.out.append(kExtendedReplySize), true, kReplyFlagDone, kReplyTypeNone, r.cookie,
                        r.offset, 0);
  else
    encode_simple_reply(b.out.append(kSimpleReplySize), r.cookie, 0);
}

void ReplyWriter::error(ReplyBatch& b, const Request& r, const Error& e) const {
  error(b, r, errno_to_nbd(e.errnum), e.message);
}

void ReplyWriter::error(ReplyBatch& b, const Request& r, uint32_t err, std::string_view msg) const {
  // Simple replies stay simple for commands without data: a structured-reply client only
  // expects chunks on READ and BLOCK_STATUS, an extended-header client on everything.
  bool chunk = extended_ || (structured_ &&
                             (r.type == uint16_t(Command::Read) || r.type == uint16_t(Command::BlockStatus)));
  if (!chunk) {
    encode_simple_reply(b.out.append(kSimpleReplySize), r.cookie, err);
    return;
  }
  b.scratch.clear();
  encode_error_payload(b.scratch, err, msg.substr(0, 1024), std::nullopt);
  encode_chunk_header(b.out.append(chunk_header_size()), extended_, kReplyFlagDone, kReplyTypeError, r.cookie,
                      r.offset, b.scratch.size());
  std::copy(b.scratch.begin(), b.scratch.end(), b.out.append(b.scratch.size()));
}

size_t ReplyWriter::data_header_size() const {
  return structured_ ? chunk_header_size() + 8 : kSimpleReplySize;
}

void ReplyWriter::encode_data_header(std::byte* p, const Request& r) const {
  if (!structured_) return encode_simple_reply(p, r.cookie, 0);
  encode_data_chunk(p, r, r.offset, r.length, true);
}

size_t ReplyWriter::encode_data_chunk(std::byte* p, const Request& r, uint64_t offset, uint64_t length,
                                      bool done) const {
  size_t k = encode_chunk_header(p, extended_, done ? kReplyFlagDone : 0, kReplyTypeOffsetData, r.cookie,
                                 r.offset, 8 + length);
  put_u64(p + k, offset);
  return k + 8;
}

size_t ReplyWriter::encode_hole_chunk(std::byte* p, const Request& r, uint64_t offset, uint32_t length,
                                      bool done) const {
  size_t k = encode_chunk_header(p, extended_, done ? kReplyFlagDone : 0, kReplyTypeOffsetHole, r.cookie,
                                 r.offset, 12);
  put_u64(p + k, offset);
  put_u32(p + k + 8, length);
  return k + 12;
}

void ReplyWriter::block_status(ReplyBatch& b, const Request& r,
                               std::span<const BlockDescriptor> descriptors) const {
  b.scratch.clear();
  encode_block_status(b.scratch, extended_, 1, descriptors);
  uint16_t type = extended_ ? kReplyTypeBlockStatusExt : kReplyTypeBlockStatus;
  encode_chunk_header(b.out.append(chunk_header_size()), extended_, kReplyFlagDone, type, r.cookie, r.offset,
                      b.scratch.size());
  std::copy(b.scratch.begin(), b.scratch.end(), b.out.append(b.scratch.size()));
}

Status ReplyWriter::write(ReplyBatch& b, struct iovec* iov, int n) {
  Status s;
  {
    std::lock_guard lock(write_mu_);
    s = io_.write_all(iov, n);
  }
  b.out.clear();
  if (!s) failed_ = true;
  return s;
}

Status ReplyWriter::flush(ReplyBatch& b, std::span<const std::byte> data) {
  if (b.out.size() == 0 && data.empty()) return ok();
  struct iovec iov[2] = {{b.out.data(), b.out.size()}, {const_cast<std::byte*>(data.data()), data.size()}};
  return write(b, iov, data.empty() ? 1 : 2);
}

Status ReplyWriter::flush(ReplyBatch& b, std::span<const struct iovec> pieces) {
  b.iov.clear();
  if (b.out.size()) b.iov.push_back({b.out.data(), b.out.size()});
  b.iov.insert(b.iov.end(), pieces.begin(), pieces.end());
  return write(b, b.iov.data(), static_cast<int>(b.iov.size()));
}

}  // namespace nbd::server
