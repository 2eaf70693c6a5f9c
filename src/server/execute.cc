// SPDX-License-Identifier: BSD-3-Clause
// Running one validated request through the stack and encoding its reply (simple, structured
// or extended) into the calling thread's Workspace. Reads land directly in the reply buffer;
// large reads go out as one writev of header + data.
#include <algorithm>
#include <chrono>

#include "nbd/log.h"
#include "server/guard.h"
#include "server/transmission.h"

namespace nbd::server {
namespace {

using namespace nbd::protocol;

constexpr size_t kLargeRead = 128 * 1024;  // larger reads bypass the reply batch
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

std::span<std::byte> Workspace::data_buffer(size_t n) {
  if (data_cap < n) {
    data.reset(new std::byte[n]);
    data_cap = n;
  }
  return {data.get(), n};
}

// Runs op under the serialize_all_requests lock when the thread model asks for it, with
// exceptions turned into EIO; logs the error (ENOTSUP quietly: clients probe with fast zero).
// On the reader's workspace it also times the call (only the plugin's part, not the reply
// write that may follow) for run_inline's offload decision.
template <class F>
Status Transmitter::call(Workspace& ws, const Request& r, F&& op) {
  std::unique_lock<std::mutex> lock(ctx_.all_requests, std::defer_lock);
  if (ctx_.model == ThreadModel::SerializeAllRequests) lock.lock();
  std::chrono::steady_clock::time_point t0;
  if (ws.watch) t0 = std::chrono::steady_clock::now();
  Status s = guard(command_name(r.type), op);
  if (ws.watch) {
    ws.call_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count();
    bool moves_data = r.type == uint16_t(Command::Read) || r.type == uint16_t(Command::Write);
    ws.call_slow = ws.call_ns > kSlowCallNs + (moves_data ? int64_t(r.length) : 0);
    if (ws.call_slow) ws.call_switches = voluntary_switches();
  }
  if (!s) {
    if (s.error().errnum == ENOTSUP || s.error().errnum == EOPNOTSUPP)
      log::debug("%s: %s", command_name(r.type), s.error().message.c_str());
    else
      log::error("%s: %s", command_name(r.type), s.error().message.c_str());
  }
  return s;
}

void Transmitter::reply_ok(Workspace& ws, const Request& r) {
  if (caps_.extended)
    encode_chunk_header(ws.out.append(kExtendedReplySize), true, kReplyFlagDone, kReplyTypeNone, r.cookie, r.offset, 0);
  else
    encode_simple_reply(ws.out.append(kSimpleReplySize), r.cookie, 0);
}

void Transmitter::reply_err(Workspace& ws, const Request& r, const Error& e) {
  reply_err(ws, r, errno_to_nbd(e.errnum), e.message);
}

void Transmitter::reply_err(Workspace& ws, const Request& r, uint32_t err, std::string_view msg) {
  bool chunk = caps_.extended || (caps_.structured && (r.type == uint16_t(Command::Read) ||
                                                       r.type == uint16_t(Command::BlockStatus)));
  if (!chunk) {
    encode_simple_reply(ws.out.append(kSimpleReplySize), r.cookie, err);
    return;
  }
  ws.scratch.clear();
  encode_error_payload(ws.scratch, err, msg.substr(0, 1024), std::nullopt);
  size_t hs = caps_.extended ? kExtendedReplySize : kStructuredReplySize;
  encode_chunk_header(ws.out.append(hs), caps_.extended, kReplyFlagDone, kReplyTypeError, r.cookie, r.offset,
                      ws.scratch.size());
  std::copy(ws.scratch.begin(), ws.scratch.end(), ws.out.append(ws.scratch.size()));
}

Status Transmitter::flush(Workspace& ws, std::span<const std::byte> extra) {
  if (ws.out.size() == 0 && extra.empty()) return ok();
  struct iovec iov[2] = {{ws.out.data(), ws.out.size()}, {const_cast<std::byte*>(extra.data()), extra.size()}};
  Status s;
  {
    std::lock_guard lock(write_mu_);
    s = io_.write_all(iov, extra.empty() ? 1 : 2);
  }
  ws.out.clear();
  if (&ws == &ws_) mark_stale_ = true;  // the reader may have blocked in write
  if (!s) failed_ = true;
  return s;
}

Status Transmitter::execute(Workspace& ws, const Request& r, std::span<const std::byte> payload) {
  uint32_t flags = plugin_flags(r);
  Connection& c = conn_;
  Status s;
  switch (Command(r.type)) {
    case Command::Read: return do_read(ws, r);
    case Command::BlockStatus: return do_block_status(ws, r);
    case Command::Write: s = call(ws, r, [&] { return c.pwrite(payload, r.offset, flags); }); break;
    case Command::Flush: s = call(ws, r, [&] { return c.flush(0); }); break;
    case Command::Trim: s = call(ws, r, [&] { return c.trim(r.length, r.offset, flags); }); break;
    case Command::WriteZeroes: s = call(ws, r, [&] { return c.zero(r.length, r.offset, flags); }); break;
    case Command::Cache: s = call(ws, r, [&] { return c.cache(r.length, r.offset, 0); }); break;
    default: s = make_error(EINVAL, "unexpected command"); break;
  }
  if (s) reply_ok(ws, r);
  else reply_err(ws, r, s.error());
  return ok();
}

Status Transmitter::do_read(Workspace& ws, const Request& r) {
  size_t n = size_t(r.length);
  bool structured = caps_.structured;
  size_t hs = structured ? (caps_.extended ? kExtendedReplySize : kStructuredReplySize) + 8 : kSimpleReplySize;
  auto header = [&](std::byte* p) {
    if (!structured) return encode_simple_reply(p, r.cookie, 0);
    size_t k = encode_chunk_header(p, caps_.extended, kReplyFlagDone, kReplyTypeOffsetData, r.cookie, r.offset, 8 + n);
    put_u64(p + k, r.offset);
  };
  Connection& c = conn_;
  if (n > kLargeRead) {
    std::span<std::byte> buf = ws.data_buffer(n);
    Status s = call(ws, r, [&] { return c.pread(buf, r.offset, 0); });
    if (!s) {
      reply_err(ws, r, s.error());
      return ok();
    }
    header(ws.out.append(hs));
    return flush(ws, buf);
  }
  size_t start = ws.out.size();
  std::byte* p = ws.out.append(hs + n);
  Status s = call(ws, r, [&] { return c.pread(std::span<std::byte>(p + hs, n), r.offset, 0); });
  if (!s) {
    ws.out.truncate(start);
    reply_err(ws, r, s.error());
    return ok();
  }
  header(p);
  return ok();
}

Status Transmitter::do_block_status(Workspace& ws, const Request& r) {
  ws.extents.reset(r.offset, r.offset + r.length);
  Connection& c = conn_;
  uint32_t flags = plugin_flags(r);
  Status s = call(ws, r, [&] { return c.extents(r.length, r.offset, flags, ws.extents); });
  if (s && ws.extents.empty()) s = make_error(EIO, "no extents were reported");
  if (!s) {
    reply_err(ws, r, s.error());
    return ok();
  }
  ws.descs.clear();
  for (const Extent& e : ws.extents.extents()) {
    ws.descs.push_back({e.length, e.flags & (kExtentHole | kExtentZero)});
    if ((flags & kReqOne) || ws.descs.size() >= kMaxDescriptors) break;
  }
  ws.scratch.clear();
  encode_block_status(ws.scratch, caps_.extended, 1, ws.descs);
  size_t hs = caps_.extended ? kExtendedReplySize : kStructuredReplySize;
  uint16_t type = caps_.extended ? kReplyTypeBlockStatusExt : kReplyTypeBlockStatus;
  encode_chunk_header(ws.out.append(hs), caps_.extended, kReplyFlagDone, type, r.cookie, r.offset, ws.scratch.size());
  std::copy(ws.scratch.begin(), ws.scratch.end(), ws.out.append(ws.scratch.size()));
  return ok();
}

}  // namespace nbd::server
