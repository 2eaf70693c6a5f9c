// SPDX-License-Identifier: BSD-3-Clause
// The READY phase: command slots (a free list, no allocation per command), issuing requests
// and reading replies (simple, structured and extended), matched to commands by cookie.
#include <cstring>

#include "client/impl.h"

namespace nbd::client {

using namespace nbd::protocol;

namespace {
constexpr uint32_t kSlotBits = 16;  // cookie = sequence << 16 | slot index
constexpr size_t kSlotBlock = 64;
constexpr uint64_t kMaxChunkPayload = 64 * 1024 * 1024;
}  // namespace

Result<CmdSlot*> Handle::Impl::alloc_command() {
  if (free_head == 0) {
    size_t base = slots.size();
    if (base + kSlotBlock > (1u << kSlotBits)) return fail(EAGAIN, "too many commands in flight");
    auto block = std::make_unique<CmdSlot[]>(kSlotBlock);
    for (size_t i = 0; i < kSlotBlock; ++i) {
      slots.push_back(&block[i]);
      block[i].next_free = i + 1 < kSlotBlock ? uint32_t(base + i + 2) : 0;
    }
    free_head = uint32_t(base + 1);
    slot_blocks.push_back(std::move(block));
  }
  uint32_t idx = free_head - 1;
  CmdSlot* c = slots[idx];
  free_head = c->next_free;
  c->cookie = (next_seq++ << kSlotBits) | idx;
  c->phase = CmdPhase::InFlight;
  c->error = 0;
  c->got_data = false;
  c->rbuf = nullptr;
  c->wbuf = nullptr;
  c->discard = false;
  return c;
}

void Handle::Impl::free_command(CmdSlot* c) {
  uint32_t idx = uint32_t(c->cookie & ((1u << kSlotBits) - 1));
  c->done = nullptr;
  c->chunk = nullptr;
  c->extent = nullptr;
  c->extent32 = nullptr;
  c->owned.emplace<std::monostate>();
  c->phase = CmdPhase::Free;
  c->cookie = 0;
  c->next_free = free_head;
  free_head = idx + 1;
}

CmdSlot* Handle::Impl::find(Cookie cookie) const {
  size_t idx = cookie & ((1u << kSlotBits) - 1);
  if (idx >= slots.size()) return nullptr;
  CmdSlot* c = slots[idx];
  return c->cookie == cookie && c->phase != CmdPhase::Free ? c : nullptr;
}

Result<Cookie> Handle::Impl::submit(CmdSlot* c) {
  Request r{c->wire_flags, c->type, c->cookie, c->offset, c->count};
  size_t n = encode_request(c->hdr, r, ext);
  iov.push_back({c->hdr, n});
  if (c->type == uint16_t(Command::Write) && c->count > 0)
    iov.push_back({const_cast<std::byte*>(c->wbuf), size_t(c->count)});
  ++in_flight;
  if (debug)
    debugf("request: %s cookie 0x%llx offset %llu count %llu", command_name(c->type),
           (unsigned long long)c->cookie, (unsigned long long)c->offset, (unsigned long long)c->count);
  return c->cookie;
}

void Handle::Impl::on_ready() {
  set_state(State::Ready);
  goal = Goal::Connect;
  debugf("ready: export size %llu, flags 0x%x", (unsigned long long)info.size, info.flags);
  start_reply();
  finish_async_option();  // aio_opt_go
}

void Handle::Impl::start_reply() {
  cur = nullptr;
  want(small, kSimpleReplySize, &Impl::on_reply_magic);
}

void Handle::Impl::on_reply_magic() {
  uint32_t magic = get_u32(small);
  bool allowed = ext ? magic == kExtendedReplyMagic
                     : magic == kSimpleReplyMagic || (sr && magic == kStructuredReplyMagic);
  if (!allowed) return set_dead(EPROTO, "invalid or unexpected reply magic 0x%08x", magic);
  reply_hdr_size = reply_header_size(magic);
  if (reply_hdr_size > kSimpleReplySize)
    return want(small + kSimpleReplySize, reply_hdr_size - kSimpleReplySize, &Impl::on_reply_header);
  on_reply_header();
}

void Handle::Impl::on_reply_header() {
  auto h = decode_reply_header(std::span(small, reply_hdr_size));
  if (!h) return set_dead(EPROTO, "bad reply header: %s", h.error().message.c_str());
  rh = *h;
  cur = find(rh.cookie);
  if (!cur || cur->phase != CmdPhase::InFlight)
    return set_dead(EPROTO, "reply with unknown cookie 0x%llx", (unsigned long long)rh.cookie);
  bool is_read = cur->type == uint16_t(Command::Read);
  if (rh.magic == kSimpleReplyMagic) {
    if (rh.error && !cur->error) cur->error = nbd_to_errno(rh.error);
    if (is_read && rh.error == 0) {
      cur->got_data = true;
      return want(cur->rbuf, size_t(cur->count), &Impl::on_simple_read_data);  // null: discard
    }
    complete(cur);
    return start_reply();
  }
  if (rh.type == kReplyTypeNone) {
    if (rh.length != 0 || !(rh.flags & kReplyFlagDone))
      return set_dead(EPROTO, "bad NBD_REPLY_TYPE_NONE chunk");
    return chunk_finished();
  }
  if (rh.type == kReplyTypeOffsetData) {
    if (!is_read || rh.length < 8) return set_dead(EPROTO, "unexpected or short data chunk");
    return want(small + 32, 8, &Impl::on_data_offset);
  }
  bool known = rh.type == kReplyTypeOffsetHole || rh.type == kReplyTypeBlockStatus ||
               rh.type == kReplyTypeBlockStatusExt || (rh.type & kReplyTypeFlagError);
  if (!known) return set_dead(EPROTO, "unknown reply chunk type %u", rh.type);
  if (rh.length > kMaxChunkPayload)
    return set_dead(EPROTO, "reply chunk too large (%llu bytes)", (unsigned long long)rh.length);
  payload.resize(size_t(rh.length));
  want(payload.data(), payload.size(), &Impl::on_chunk_payload);
}

void Handle::Impl::on_simple_read_data() {
  if (cur->chunk) {
    int err = 0;
    if ((*cur->chunk)(std::span<const std::byte>(cur->rbuf, size_t(cur->count)), cur->offset, kReadData,
                      &err) < 0 &&
        !cur->error)
      cur->error = err ? err : EPROTO;
  }
  complete(cur);
  start_reply();
}

// Checks that [off, off+len) lies within the command's range.
static bool in_range(const CmdSlot* c, uint64_t off, uint64_t len) {
  return off >= c->offset && len <= c->count && off - c->offset <= c->count - len;
}

void Handle::Impl::on_data_offset() {
  uint64_t off = get_u64(small + 32), len = rh.length - 8;
  if (!in_range(cur, off, len)) return set_dead(EPROTO, "data chunk outside the requested range");
  cur->got_data = true;
  rh.offset = off;
  want(cur->discard ? nullptr : cur->rbuf + (off - cur->offset), size_t(len), &Impl::on_data_payload);
}

void Handle::Impl::on_data_payload() {
  if (cur->chunk) {
    int err = 0;
    std::span<const std::byte> sub(cur->rbuf + (rh.offset - cur->offset), size_t(rh.length - 8));
    if ((*cur->chunk)(sub, rh.offset, kReadData, &err) < 0 && !cur->error) cur->error = err ? err : EPROTO;
  }
  chunk_finished();
}

static void on_hole(Handle::Impl& h, CmdSlot* c) {
  size_t n = h.payload.size();
  if (c->type != uint16_t(Command::Read) || (n != 12 && n != 16)) return h.set_dead(EPROTO, "bad hole chunk");
  uint64_t off = get_u64(h.payload.data());
  uint64_t len = n == 12 ? get_u32(h.payload.data() + 8) : get_u64(h.payload.data() + 8);
  if (len == 0 || !in_range(c, off, len)) return h.set_dead(EPROTO, "hole chunk outside the requested range");
  c->got_data = true;
  if (c->discard) return h.chunk_finished();
  std::byte* p = c->rbuf + (off - c->offset);
  memset(p, 0, size_t(len));
  if (c->chunk) {
    int err = 0;
    if ((*c->chunk)(std::span<const std::byte>(p, size_t(len)), off, kReadHole, &err) < 0 && !c->error)
      c->error = err ? err : EPROTO;
  }
  h.chunk_finished();
}

static void on_block_status(Handle::Impl& h, CmdSlot* c, uint16_t type) {
  if (c->type != uint16_t(Command::BlockStatus))
    return h.set_dead(EPROTO, "block status chunk for another command");
  auto bs = decode_block_status(type, h.payload);
  if (!bs) return h.set_dead(EPROTO, "bad block status chunk: %s", bs.error().message.c_str());
  const std::string* name = nullptr;
  for (auto& [id, n] : h.meta_contexts)
    if (id == bs->context_id) name = &n;
  if (!name) return h.set_dead(EPROTO, "block status for unknown context id %u", bs->context_id);
  int err = 0, r = 0;
  if (c->extent) {
    h.extents.clear();
    uint64_t at = c->offset;
    for (auto& d : bs->descriptors) {
      h.extents.push_back({at, d.length, d.flags});
      at += d.length;
    }
    r = (*c->extent)(*name, c->offset, h.extents, &err);
  } else if (c->extent32) {
    h.extents32.clear();
    for (auto& d : bs->descriptors) {
      h.extents32.push_back(uint32_t(d.length > UINT32_MAX ? UINT32_MAX & ~511u : d.length));
      h.extents32.push_back(uint32_t(d.flags));
    }
    r = (*c->extent32)(*name, c->offset, h.extents32, &err);
  }
  if (r < 0 && !c->error) c->error = err ? err : EPROTO;
  h.chunk_finished();
}

void Handle::Impl::on_chunk_payload() {
  if (rh.type == kReplyTypeOffsetHole) return on_hole(*this, cur);
  if (rh.type == kReplyTypeBlockStatus || rh.type == kReplyTypeBlockStatusExt)
    return on_block_status(*this, cur, rh.type);
  // An error chunk (known or not: the error bit says the command failed).
  auto e = decode_error_payload(rh.type, payload);
  int err = e ? nbd_to_errno(e->error) : EIO;
  if (err == 0) err = EIO;
  if (e)
    debugf("server error for cookie 0x%llx: %s: %s", (unsigned long long)cur->cookie, strerror(err),
           e->message.c_str());
  if (!cur->error) cur->error = err;
  if (cur->chunk && e) {
    int cerr = err;
    uint64_t off = e->offset.value_or(cur->offset);
    (*cur->chunk)(std::span<const std::byte>(), off, kReadError, &cerr);
  }
  chunk_finished();
}

void Handle::Impl::chunk_finished() {
  if (rh.flags & kReplyFlagDone) complete(cur);
  start_reply();
}

void Handle::Impl::complete(CmdSlot* c) {
  c->phase = CmdPhase::Done;
  --in_flight;
  if (c->done) {
    int err = c->error;
    int r = c->done(&err);
    c->error = err;
    if (r == 1) return free_command(c);
  }
  ++done_count;
}

void Handle::Impl::fail_all(int err) {
  iov.clear();
  iov_head = 0;
  for (CmdSlot* c : slots)
    if (c->phase == CmdPhase::InFlight) {
      if (!c->error) c->error = err ? err : ENOTCONN;
      complete(c);
    }
}

}  // namespace nbd::client
