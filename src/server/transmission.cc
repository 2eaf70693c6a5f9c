// SPDX-License-Identifier: BSD-3-Clause
// The transmission phase: requests are decoded from a buffer that holds many of them, checked
// once by validate_request, run through the stack, and their replies batched into one write
// per burst (reads land directly in the reply buffer; large reads go out with one writev).
#include <algorithm>
#include <cinttypes>

#include "nbd/log.h"
#include "server/guard.h"
#include "server/session.h"

namespace nbd::server {
namespace {

using namespace nbd::protocol;

constexpr size_t kFlushThreshold = 256 * 1024;  // send batched replies once this much is queued
constexpr size_t kLargeIo = 128 * 1024;         // larger reads/writes bypass the batch buffers
constexpr size_t kMaxDescriptors = 1 << 16;

uint32_t plugin_flags(const Request& r) {
  uint32_t f = 0;
  if (r.flags & kCmdFlagFua) f |= kFua;
  if (r.type == uint16_t(Command::WriteZeroes) && !(r.flags & kCmdFlagNoHole)) f |= kMayTrim;
  if (r.flags & kCmdFlagFastZero) f |= kFastZero;
  if (r.flags & kCmdFlagReqOne) f |= kReqOne;
  return f;
}

}  // namespace

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

std::span<std::byte> Session::data_buffer(size_t n) {
  if (data_cap_ < n) {
    data_.reset(new std::byte[n]);
    data_cap_ = n;
  }
  return {data_.get(), n};
}

Status Session::flush_out() {
  if (out_.size() == 0) return ok();
  Status s = io_.write_all(std::span<const std::byte>(out_.data(), out_.size()));
  out_.clear();
  return s;
}

void Session::reply_ok(const Request& r) {
  if (extended_) {
    encode_chunk_header(out_.append(kExtendedReplySize), true, kReplyFlagDone, kReplyTypeNone, r.cookie, r.offset, 0);
  } else {
    encode_simple_reply(out_.append(kSimpleReplySize), r.cookie, 0);
  }
}

void Session::reply_err(const Request& r, uint32_t err, const std::string& msg) {
  bool chunk = extended_ || (structured_ && (r.type == uint16_t(Command::Read) ||
                                             r.type == uint16_t(Command::BlockStatus)));
  if (!chunk) {
    encode_simple_reply(out_.append(kSimpleReplySize), r.cookie, err);
    return;
  }
  scratch_.clear();
  encode_error_payload(scratch_, err, std::string_view(msg).substr(0, 1024), std::nullopt);
  size_t hs = extended_ ? kExtendedReplySize : kStructuredReplySize;
  encode_chunk_header(out_.append(hs), extended_, kReplyFlagDone, kReplyTypeError, r.cookie, r.offset, scratch_.size());
  std::copy(scratch_.begin(), scratch_.end(), out_.append(scratch_.size()));
}

Status Session::request(const Request& r) {
  Verdict v = validate_request(r, caps_);
  if (v.error) {
    if (r.type == uint16_t(Command::Write)) NBD_TRY(io_.discard(r.length));
    log::error("invalid request: %s", v.message.c_str());
    reply_err(r, v.error, v.message);
    return ok();
  }
  uint32_t flags = plugin_flags(r);
  switch (Command(r.type)) {
    case Command::Read: return do_read(r);
    case Command::Write: return do_write(r, flags);
    case Command::BlockStatus: return do_block_status(r);
    default: return execute(r, flags);
  }
}

namespace {
// Runs op under the serialize_all_requests lock when the thread model asks for it, with
// exceptions turned into EIO; logs the error (ENOTSUP quietly: clients probe with fast zero).
template <class F>
Status call(ServerContext& ctx, const Request& r, F&& op) {
  std::unique_lock<std::mutex> lock(ctx.all_requests, std::defer_lock);
  if (ctx.model == ThreadModel::SerializeAllRequests) lock.lock();
  Status s = guard(command_name(r.type), op);
  if (!s) {
    if (s.error().errnum == ENOTSUP || s.error().errnum == EOPNOTSUPP)
      log::debug("%s: %s", command_name(r.type), s.error().message.c_str());
    else
      log::error("%s: %s", command_name(r.type), s.error().message.c_str());
  }
  return s;
}
}  // namespace

Status Session::execute(const Request& r, uint32_t flags) {
  Connection& c = *conn_;
  Status s = call(ctx_, r, [&]() -> Status {
    switch (Command(r.type)) {
      case Command::Flush: return c.flush(0);
      case Command::Trim: return c.trim(r.length, r.offset, flags);
      case Command::WriteZeroes: return c.zero(r.length, r.offset, flags);
      case Command::Cache: return c.cache(r.length, r.offset, 0);
      default: return make_error(EINVAL, "unexpected command");
    }
  });
  if (s) reply_ok(r);
  else reply_err(r, errno_to_nbd(s.error().errnum), s.error().message);
  return ok();
}

Status Session::do_read(const Request& r) {
  size_t n = size_t(r.length);
  size_t hs = structured_ ? (extended_ ? kExtendedReplySize : kStructuredReplySize) + 8 : kSimpleReplySize;
  auto header = [&](std::byte* p) {
    if (!structured_) return encode_simple_reply(p, r.cookie, 0);
    size_t k = encode_chunk_header(p, extended_, kReplyFlagDone, kReplyTypeOffsetData, r.cookie, r.offset, 8 + n);
    put_u64(p + k, r.offset);
  };
  Connection& c = *conn_;
  if (n > kLargeIo) {
    NBD_TRY(flush_out());
    std::span<std::byte> buf = data_buffer(n);
    Status s = call(ctx_, r, [&] { return c.pread(buf, r.offset, 0); });
    if (!s) {
      reply_err(r, errno_to_nbd(s.error().errnum), s.error().message);
      return ok();
    }
    std::byte h[kExtendedReplySize + 8];
    header(h);
    struct iovec iov[2] = {{h, hs}, {buf.data(), n}};
    return io_.write_all(iov, 2);
  }
  size_t start = out_.size();
  std::byte* p = out_.append(hs + n);
  Status s = call(ctx_, r, [&] { return c.pread(std::span<std::byte>(p + hs, n), r.offset, 0); });
  if (!s) {
    out_.truncate(start);
    reply_err(r, errno_to_nbd(s.error().errnum), s.error().message);
    return ok();
  }
  header(p);
  return ok();
}

Status Session::do_write(const Request& r, uint32_t flags) {
  size_t n = size_t(r.length);
  std::span<const std::byte> buf;
  bool from_io = n <= kLargeIo;
  if (from_io) {
    Status f = io_.fill(n);
    if (!f) return make_error(ECONNRESET, "client closed the connection during a write payload");
    buf = {io_.peek(), n};
  } else {
    std::span<std::byte> d = data_buffer(n);
    NBD_TRY(io_.read_exact(d.data(), n));
    buf = d;
  }
  Connection& c = *conn_;
  Status s = call(ctx_, r, [&] { return c.pwrite(buf, r.offset, flags); });
  if (from_io) io_.consume(n);
  if (s) reply_ok(r);
  else reply_err(r, errno_to_nbd(s.error().errnum), s.error().message);
  return ok();
}

Status Session::do_block_status(const Request& r) {
  extents_.reset(r.offset, r.offset + r.length);
  Connection& c = *conn_;
  uint32_t flags = plugin_flags(r);
  Status s = call(ctx_, r, [&] { return c.extents(r.length, r.offset, flags, extents_); });
  if (s && extents_.empty()) s = make_error(EIO, "no extents were reported");
  if (!s) {
    reply_err(r, errno_to_nbd(s.error().errnum), s.error().message);
    return ok();
  }
  std::vector<BlockDescriptor> d;
  for (const Extent& e : extents_.extents()) {
    d.push_back({e.length, e.type & (kStateHole | kStateZero)});
    if ((flags & kReqOne) || d.size() >= kMaxDescriptors) break;
  }
  scratch_.clear();
  encode_block_status(scratch_, extended_, 1, d);
  size_t hs = extended_ ? kExtendedReplySize : kStructuredReplySize;
  uint16_t type = extended_ ? kReplyTypeBlockStatusExt : kReplyTypeBlockStatus;
  encode_chunk_header(out_.append(hs), extended_, kReplyFlagDone, type, r.cookie, r.offset, scratch_.size());
  std::copy(scratch_.begin(), scratch_.end(), out_.append(scratch_.size()));
  return ok();
}

void Session::transmission() {
  size_t hs = extended_ ? kExtendedRequestSize : kRequestSize;
  for (;;) {
    if (io_.buffered() < hs && out_.size() && !flush_out()) return;
    Status s = io_.fill(hs);
    if (!s) {
      if (s.error().errnum) log::debug("%s", s.error().message.c_str());
      break;
    }
    auto r = decode_request(std::span<const std::byte>(io_.peek(), hs), extended_);
    if (!r) {
      log::error("client sent a bad request header (%s); closing the connection", r.error().message.c_str());
      break;
    }
    io_.consume(hs);
    if (r->type == uint16_t(Command::Disc)) break;
    if (Status st = request(*r); !st) {
      log::debug("closing the connection: %s", st.error().message.c_str());
      break;
    }
    if (out_.size() >= kFlushThreshold && !flush_out()) return;
  }
  (void)flush_out();
}

}  // namespace nbd::server
