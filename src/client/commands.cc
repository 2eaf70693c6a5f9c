// SPDX-License-Identifier: BSD-3-Clause
// The command API: aio_* checks a request (strict mode as in libnbd), takes a slot and queues
// it; each blocking call is the aio_* call plus running the state machine until it retires.
#include <cstring>

#include "client/impl.h"

namespace nbd::client {

using namespace nbd::protocol;

namespace {

constexpr uint64_t kMaxRequestSize = 64 * 1024 * 1024;  // reads and writes, as libnbd
constexpr uint32_t kKnownFlags =
    kCmdFlagFua | kCmdFlagNoHole | kCmdFlagDf | kCmdFlagReqOne | kCmdFlagFastZero;

struct CmdSpec {
  Command type;
  uint32_t allowed_flags;
  bool has_range;      // offset/count are meaningful
  bool writes;         // refused on read-only exports
  uint16_t need_flag;  // export flag the server must advertise (0: none)
  const char* what;
};

const CmdSpec kSpecs[] = {
    {Command::Read, kCmdFlagDf, true, false, 0, "read"},
    {Command::Write, kCmdFlagFua, true, true, 0, "write"},
    {Command::Flush, 0, false, false, kFlagSendFlush, "flush"},
    {Command::Trim, kCmdFlagFua, true, true, kFlagSendTrim, "trim"},
    {Command::Cache, 0, true, false, kFlagSendCache, "cache"},
    {Command::WriteZeroes, kCmdFlagFua | kCmdFlagNoHole | kCmdFlagFastZero, true, true, kFlagSendWriteZeroes,
     "zero"},
    {Command::BlockStatus, kCmdFlagReqOne, true, false, 0, "block status"},
};

const CmdSpec& spec(Command t) {
  for (auto& s : kSpecs)
    if (s.type == t) return s;
  return kSpecs[0];
}

Status check_flags(Handle::Impl& h, const CmdSpec& s, uint32_t flags) {
  if (flags & ~kKnownFlags) return h.fail(EINVAL, "invalid flags 0x%x", flags);
  if (!(h.strict & kStrictFlags)) return ok();
  if (flags & ~s.allowed_flags) return h.fail(EINVAL, "flags 0x%x are not valid for %s", flags, s.what);
  uint16_t f = h.info.flags;
  if ((flags & kCmdFlagFua) && !(f & kFlagSendFua))
    return h.fail(EINVAL, "server does not support the FUA flag");
  if ((flags & kCmdFlagFastZero) && !(f & kFlagSendFastZero))
    return h.fail(EINVAL, "server does not support the fast zero flag");
  if ((flags & kCmdFlagDf) && !(f & kFlagSendDf))
    return h.fail(EINVAL, "server does not support the DF flag");
  return ok();
}

Status check_range(Handle::Impl& h, const CmdSpec& s, uint64_t count, uint64_t offset) {
  if (!s.has_range) return ok();
  if ((s.type == Command::Read || s.type == Command::Write) && count > kMaxRequestSize)
    return h.fail(ERANGE, "request too large: maximum request size is %llu",
                  (unsigned long long)kMaxRequestSize);
  if (!h.ext && count > UINT32_MAX)
    return h.fail(ERANGE, "request too large: without extended headers the limit is 4G-1");
  if ((h.strict & kStrictZeroSize) && count == 0) return h.fail(EINVAL, "count cannot be 0");
  if ((h.strict & kStrictBounds) && (offset > h.info.size || count > h.info.size - offset))
    return h.fail(EINVAL, "request out of bounds");
  uint32_t align = h.info.block_size.minimum;
  if ((h.strict & kStrictAlign) && align > 1 && (offset % align || count % align))
    return h.fail(EINVAL, "request is unaligned (the server's minimum block size is %u)", align);
  return ok();
}

Status check_command(Handle::Impl& h, Command t, uint64_t count, uint64_t offset, uint32_t flags) {
  if (h.state != State::Ready) {
    if (h.state == State::Dead) return h.fail(h.errnum ? h.errnum : ENOTCONN, "%s", h.error.c_str());
    return h.fail(ENOTCONN, "invalid state: %s: the handle must be connected with the server",
                  client::state_name(h.state));
  }
  if (h.disconnect_queued) return h.fail(EINVAL, "cannot issue commands after NBD_CMD_DISC");
  const CmdSpec& s = spec(t);
  NBD_TRY(check_flags(h, s, flags));
  if (h.strict & kStrictCommands) {
    if (s.writes && (h.info.flags & kFlagReadOnly))
      return h.fail(EPERM, "server does not support write operations");
    if (s.need_flag && !(h.info.flags & s.need_flag))
      return h.fail(EINVAL, "server does not support %s operations", s.what);
  }
  if (t == Command::BlockStatus && h.meta_contexts.empty())
    return h.fail(ENOTSUP,
                  "did not negotiate any metadata contexts, either you did not call nbd_add_meta_context "
                  "before connecting or the server does not support it");
  return check_range(h, s, count, offset);
}

}  // namespace

// Checks a command and takes a slot for it; the caller attaches its callbacks and submits,
// so nothing looks the command up again and no callback is copied to the heap.
static Result<CmdSlot*> prepare(Handle::Impl& h, Command t, uint64_t count, uint64_t offset, uint32_t flags,
                                std::byte* rbuf, const std::byte* wbuf) {
  NBD_TRY(check_command(h, t, count, offset, flags));
  NBD_TRY_ASSIGN(CmdSlot * c, h.alloc_command());
  c->type = uint16_t(t);
  c->wire_flags = uint16_t(flags);
  c->offset = offset;
  c->count = count;
  c->rbuf = rbuf;
  c->wbuf = wbuf;
  if (rbuf && h.pread_initialize) memset(rbuf, 0, size_t(count));
  return c;
}

// A command whose only callback is its completion.
static Result<Cookie> issue(Handle::Impl& h, Command t, uint64_t count, uint64_t offset, uint32_t flags,
                            std::byte* rbuf, const std::byte* wbuf, CompletionCallback&& done) {
  NBD_TRY_ASSIGN(CmdSlot * c, prepare(h, t, count, offset, flags, rbuf, wbuf));
  c->done = std::move(done);
  return h.submit(c);
}

// An aio_* call's chunk or extent callback: moved into the command, which owns it from now on.
template <class Callback>
static const Callback* own(CmdSlot* c, Callback&& cb) {
  if (!cb) return nullptr;
  return &c->owned.emplace<Callback>(std::move(cb));
}

Result<Cookie> Handle::aio_pread(std::span<std::byte> buf, uint64_t offset, CompletionCallback done,
                                 uint32_t flags) {
  NBD_HANDLE_CALL("nbd_aio_pread");
  return issue(*impl_, Command::Read, buf.size(), offset, flags, buf.data(), nullptr, std::move(done));
}

Result<Cookie> Handle::aio_pread_structured(std::span<std::byte> buf, uint64_t offset, ChunkCallback chunk,
                                            CompletionCallback done, uint32_t flags) {
  NBD_HANDLE_CALL("nbd_aio_pread_structured");
  NBD_TRY_ASSIGN(CmdSlot * c, prepare(*impl_, Command::Read, buf.size(), offset, flags, buf.data(), nullptr));
  c->done = std::move(done);
  c->chunk = own(c, std::move(chunk));
  return impl_->submit(c);
}

Result<Cookie> Handle::aio_pread_discard(uint64_t count, uint64_t offset, CompletionCallback done,
                                         uint32_t flags) {
  NBD_HANDLE_CALL("nbd_aio_pread_discard");
  NBD_TRY_ASSIGN(CmdSlot * c, prepare(*impl_, Command::Read, count, offset, flags, nullptr, nullptr));
  c->done = std::move(done);
  c->discard = true;
  return impl_->submit(c);
}

Result<Cookie> Handle::aio_pwrite(std::span<const std::byte> buf, uint64_t offset, CompletionCallback done,
                                  uint32_t flags) {
  NBD_HANDLE_CALL("nbd_aio_pwrite");
  return issue(*impl_, Command::Write, buf.size(), offset, flags, nullptr, buf.data(), std::move(done));
}

Result<Cookie> Handle::aio_flush(CompletionCallback done, uint32_t flags) {
  NBD_HANDLE_CALL("nbd_aio_flush");
  return issue(*impl_, Command::Flush, 0, 0, flags, nullptr, nullptr, std::move(done));
}

Result<Cookie> Handle::aio_trim(uint64_t count, uint64_t offset, CompletionCallback done, uint32_t flags) {
  NBD_HANDLE_CALL("nbd_aio_trim");
  return issue(*impl_, Command::Trim, count, offset, flags, nullptr, nullptr, std::move(done));
}

Result<Cookie> Handle::aio_cache(uint64_t count, uint64_t offset, CompletionCallback done, uint32_t flags) {
  NBD_HANDLE_CALL("nbd_aio_cache");
  return issue(*impl_, Command::Cache, count, offset, flags, nullptr, nullptr, std::move(done));
}

Result<Cookie> Handle::aio_zero(uint64_t count, uint64_t offset, CompletionCallback done, uint32_t flags) {
  NBD_HANDLE_CALL("nbd_aio_zero");
  return issue(*impl_, Command::WriteZeroes, count, offset, flags, nullptr, nullptr, std::move(done));
}

Result<Cookie> Handle::aio_block_status_64(uint64_t count, uint64_t offset, ExtentCallback extent,
                                           CompletionCallback done, uint32_t flags) {
  NBD_HANDLE_CALL("nbd_aio_block_status_64");
  NBD_TRY_ASSIGN(CmdSlot * c, prepare(*impl_, Command::BlockStatus, count, offset, flags, nullptr, nullptr));
  c->done = std::move(done);
  c->extent = own(c, std::move(extent));
  return impl_->submit(c);
}

Result<Cookie> Handle::aio_block_status(uint64_t count, uint64_t offset, Extent32Callback extent,
                                        CompletionCallback done, uint32_t flags) {
  NBD_HANDLE_CALL("nbd_aio_block_status");
  NBD_TRY_ASSIGN(CmdSlot * c, prepare(*impl_, Command::BlockStatus, count, offset, flags, nullptr, nullptr));
  c->done = std::move(done);
  c->extent32 = own(c, std::move(extent));
  return impl_->submit(c);
}

// kShutdownAbandonPending: commands whose request has not started to go out are dropped
// from the send queue and fail with ESHUTDOWN; the rest still get their replies.
static void abandon_unsent(Handle::Impl& h) {
  std::vector<CmdSlot*> dropped;
  for (CmdSlot* c : h.slots) {
    if (c->phase != CmdPhase::InFlight) continue;
    for (size_t j = h.iov_head; j < h.iov.size(); ++j) {
      if (h.iov[j].iov_base != c->hdr) continue;
      bool payload = c->type == uint16_t(Command::Write) && c->count > 0;
      h.iov.erase(h.iov.begin() + long(j), h.iov.begin() + long(j + (payload ? 2 : 1)));
      dropped.push_back(c);
      break;
    }
  }
  for (CmdSlot* c : dropped) {
    c->error = ESHUTDOWN;
    h.complete(c);
  }
}

Status Handle::aio_disconnect(uint32_t flags) {
  NBD_HANDLE_CALL("nbd_aio_disconnect");
  Impl& h = *impl_;
  if (h.state != State::Ready)
    return h.fail(ENOTCONN, "invalid state: %s: the handle must be connected", client::state_name(h.state));
  if (flags & ~kShutdownAbandonPending) return h.fail(EINVAL, "invalid shutdown flags 0x%x", flags);
  if (h.disconnect_queued) return ok();
  if (flags & kShutdownAbandonPending) abandon_unsent(h);
  Request r{0, uint16_t(Command::Disc), 0, 0, 0};
  size_t n = encode_request(h.disc_hdr, r, h.ext);
  h.iov.push_back({h.disc_hdr, n});
  h.disconnect_queued = true;
  h.expect_eof = true;
  return ok();
}

Result<bool> Handle::aio_command_completed(Cookie cookie) {
  NBD_HANDLE_CALL("nbd_aio_command_completed");
  CmdSlot* c = impl_->find(cookie);
  if (!c || c->phase == CmdPhase::InFlight) return false;  // an unknown cookie too, as libnbd
  int err = c->error;
  impl_->free_command(c);
  --impl_->done_count;
  if (err) return impl_->fail(err, "%s", strerror(err));
  return true;
}

Cookie Handle::aio_peek_command_completed() const {
  NBD_HANDLE_LOCK;
  if (impl_->done_count == 0) return 0;
  for (CmdSlot* c : impl_->slots)
    if (c->phase == CmdPhase::Done) return c->cookie;
  return 0;
}

size_t Handle::aio_in_flight() const {
  NBD_HANDLE_LOCK;
  return impl_->in_flight;
}

// ---- blocking forms ----
static Status wait_for(Handle::Impl& h, Result<Cookie> issued) {
  if (!issued) return std::move(issued).error();
  Cookie c = *issued;
  for (;;) {
    CmdSlot* cmd = h.find(c);
    if (!cmd || cmd->phase != CmdPhase::InFlight) break;
    bool did;
    Status st = h.poll_once(-1, &did);
    // The reply may have arrived together with the end of the connection.
    if (!st && (cmd = h.find(c)) && cmd->phase == CmdPhase::InFlight) {
      // Still in flight, while the caller's callback goes out of scope with this call.
      cmd->chunk = nullptr;
      cmd->extent = nullptr;
      cmd->extent32 = nullptr;
      return st;
    }
  }
  CmdSlot* cmd = h.find(c);
  if (!cmd) return h.fail(EINVAL, "command vanished");  // retired by its callback: impossible here
  int err = cmd->error;
  h.free_command(cmd);
  --h.done_count;
  if (err && h.state == State::Dead) return h.last_error();  // the reason it died says more
  if (err) return h.fail(err, "%s", strerror(err));
  return ok();
}

Status Handle::pread(std::span<std::byte> buf, uint64_t offset, uint32_t flags) {
  NBD_HANDLE_CALL("nbd_pread");
  return wait_for(*impl_, issue(*impl_, Command::Read, buf.size(), offset, flags, buf.data(), nullptr, {}));
}

Status Handle::pread_structured(std::span<std::byte> buf, uint64_t offset, const ChunkCallback& chunk,
                                uint32_t flags) {
  NBD_HANDLE_CALL("nbd_pread_structured");
  NBD_TRY_ASSIGN(CmdSlot * c, prepare(*impl_, Command::Read, buf.size(), offset, flags, buf.data(), nullptr));
  if (chunk) c->chunk = &chunk;
  return wait_for(*impl_, impl_->submit(c));
}

Status Handle::pwrite(std::span<const std::byte> buf, uint64_t offset, uint32_t flags) {
  NBD_HANDLE_CALL("nbd_pwrite");
  return wait_for(*impl_, issue(*impl_, Command::Write, buf.size(), offset, flags, nullptr, buf.data(), {}));
}

Status Handle::flush(uint32_t flags) {
  NBD_HANDLE_CALL("nbd_flush");
  return wait_for(*impl_, issue(*impl_, Command::Flush, 0, 0, flags, nullptr, nullptr, {}));
}

Status Handle::trim(uint64_t count, uint64_t offset, uint32_t flags) {
  NBD_HANDLE_CALL("nbd_trim");
  return wait_for(*impl_, issue(*impl_, Command::Trim, count, offset, flags, nullptr, nullptr, {}));
}

Status Handle::cache(uint64_t count, uint64_t offset, uint32_t flags) {
  NBD_HANDLE_CALL("nbd_cache");
  return wait_for(*impl_, issue(*impl_, Command::Cache, count, offset, flags, nullptr, nullptr, {}));
}

Status Handle::zero(uint64_t count, uint64_t offset, uint32_t flags) {
  NBD_HANDLE_CALL("nbd_zero");
  return wait_for(*impl_, issue(*impl_, Command::WriteZeroes, count, offset, flags, nullptr, nullptr, {}));
}

Status Handle::block_status_64(uint64_t count, uint64_t offset, const ExtentCallback& extent,
                               uint32_t flags) {
  NBD_HANDLE_CALL("nbd_block_status_64");
  NBD_TRY_ASSIGN(CmdSlot * c, prepare(*impl_, Command::BlockStatus, count, offset, flags, nullptr, nullptr));
  if (extent) c->extent = &extent;
  return wait_for(*impl_, impl_->submit(c));
}

Status Handle::block_status(uint64_t count, uint64_t offset, const Extent32Callback& extent, uint32_t flags) {
  NBD_HANDLE_CALL("nbd_block_status");
  NBD_TRY_ASSIGN(CmdSlot * c, prepare(*impl_, Command::BlockStatus, count, offset, flags, nullptr, nullptr));
  if (extent) c->extent32 = &extent;
  return wait_for(*impl_, impl_->submit(c));
}

Status Handle::shutdown(uint32_t flags) {
  NBD_HANDLE_CALL("nbd_shutdown");
  Impl& h = *impl_;
  if (h.state == State::Closed) return ok();
  if (h.state == State::Negotiating) return opt_abort();  // nothing to flush yet
  NBD_TRY(aio_disconnect(flags));
  while (h.state == State::Ready) {
    bool did;
    NBD_TRY(h.poll_once(-1, &did));
  }
  if (h.state == State::Dead) return h.last_error();
  return ok();
}

}  // namespace nbd::client
