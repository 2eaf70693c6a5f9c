// SPDX-License-Identifier: BSD-3-Clause
// Running one validated request through the stack; its reply is encoded by the ReplyWriter
// into the calling thread's Workspace. Reads land directly in the reply buffer; large reads
// go out as one writev of header + data.
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

void Workspace::release_large_buffer() {
  if (data_cap > kKeepBufferBytes) {
    data.reset();
    data_cap = 0;
  }
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
  std::chrono::steady_clock::time_point t0;
  if (ws.watch) t0 = std::chrono::steady_clock::now();
  Status s = locked(command_name(r.type), op);
  if (ws.watch) {
    ws.call_ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count();
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

Status Transmitter::flush(Workspace& ws, std::span<const std::byte> data) {
  Status s = writer_.flush(ws.replies, data);
  if (&ws == &ws_) mark_stale_ = true;  // the reader may have blocked in write
  return s;
}

Status Transmitter::flush(Workspace& ws, std::span<const struct iovec> pieces) {
  Status s = writer_.flush(ws.replies, pieces);
  if (&ws == &ws_) mark_stale_ = true;
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
  if (s)
    writer_.success(ws.replies, r);
  else
    writer_.error(ws.replies, r, s.error());
  return ok();
}

Status Transmitter::do_read(Workspace& ws, const Request& r) {
  size_t n = size_t(r.length);
  size_t hs = writer_.data_header_size();
  Connection& c = conn_;
  const bool may_hole = hole_mode_ != HoleMode::None && n >= kHoleMinRead && !(r.flags & kCmdFlagDf);
  if (may_hole && hole_mode_ == HoleMode::Extents && plan_chunks_from_extents(ws, r))
    return send_read_chunks(ws, r, nullptr);
  if (n > kLargeRead || may_hole) {
    std::span<std::byte> buf = ws.data_buffer(n);
    Status s = call(ws, r, [&] { return c.pread(buf, r.offset, 0); });
    if (!s) {
      writer_.error(ws.replies, r, s.error());
      return ok();
    }
    if (may_hole && hole_mode_ == HoleMode::Scan && plan_chunks_from_zeroes(ws, r, buf))
      return send_read_chunks(ws, r, buf.data());
    writer_.encode_data_header(ws.replies.out.append(hs), r);
    return flush(ws, buf);
  }
  OutBuf& out = ws.replies.out;
  size_t start = out.size();
  std::byte* p = out.append(hs + n);
  Status s = call(ws, r, [&] { return c.pread(std::span<std::byte>(p + hs, n), r.offset, 0); });
  if (!s) {
    out.truncate(start);
    writer_.error(ws.replies, r, s.error());
    return ok();
  }
  writer_.encode_data_header(p, r);
  return ok();
}

// The read as the OFFSET_DATA and OFFSET_HOLE chunks read_chunks.cc planned, in one writev.
Status Transmitter::send_read_chunks(Workspace& ws, const Request& r, std::byte* have) {
  std::byte* buf = have ? have : ws.data_buffer(size_t(r.length)).data();
  ws.chunk_headers.resize(ws.chunks.size() * ReplyWriter::kMaxChunkHeader);
  ws.pieces.clear();
  for (size_t i = 0; i < ws.chunks.size(); i++) {
    const ReadChunk& k = ws.chunks[i];
    bool done = i + 1 == ws.chunks.size();
    std::byte* h = ws.chunk_headers.data() + i * ReplyWriter::kMaxChunkHeader;
    if (k.hole) {
      ws.pieces.push_back({h, writer_.encode_hole_chunk(h, r, k.offset, uint32_t(k.length), done)});
      continue;
    }
    std::span<std::byte> part(buf + (k.offset - r.offset), size_t(k.length));
    if (!have) {
      // An error in any data chunk fails the whole read before a chunk is sent.
      Status s = call(ws, r, [&] { return conn_.pread(part, k.offset, 0); });
      if (!s) {
        writer_.error(ws.replies, r, s.error());
        return ok();
      }
    }
    ws.pieces.push_back({h, writer_.encode_data_chunk(h, r, k.offset, k.length, done)});
    ws.pieces.push_back({part.data(), part.size()});
  }
  return flush(ws, std::span<const struct iovec>(ws.pieces));
}

Status Transmitter::do_block_status(Workspace& ws, const Request& r) {
  ws.extents.reset(r.offset, r.offset + r.length);
  Connection& c = conn_;
  uint32_t flags = plugin_flags(r);
  Status s = call(ws, r, [&] { return c.extents(r.length, r.offset, flags, ws.extents); });
  if (s && ws.extents.empty()) s = make_error(EIO, "no extents were reported");
  if (!s) {
    writer_.error(ws.replies, r, s.error());
    return ok();
  }
  ws.descs.clear();
  for (const Extent& e : ws.extents.extents()) {
    ws.descs.push_back({e.length, e.flags & (kExtentHole | kExtentZero)});
    if ((flags & kReqOne) || ws.descs.size() >= kMaxDescriptors) break;
  }
  writer_.block_status(ws.replies, r, ws.descs);
  return ok();
}

}  // namespace nbd::server
