// SPDX-License-Identifier: BSD-3-Clause
// Encode/decode of the transmission phase (include/nbd/protocol.h): request and reply
// headers, structured and extended chunks, block status, and NBD error numbers. Pure functions only.
#include <cerrno>

#include "nbd/protocol.h"
#include "protocol/codec.h"

namespace nbd::protocol {

size_t encode_request(std::byte* out, const Request& r, bool extended) {
  put_u32(out, extended ? kExtendedRequestMagic : kRequestMagic);
  put_u16(out + 4, r.flags);
  put_u16(out + 6, r.type);
  put_u64(out + 8, r.cookie);
  put_u64(out + 16, r.offset);
  if (extended) {
    put_u64(out + 24, r.length);
    return kExtendedRequestSize;
  }
  NBD_ASSERT(r.length <= UINT32_MAX);
  put_u32(out + 24, uint32_t(r.length));
  return kRequestSize;
}

Result<Request> decode_request(std::span<const std::byte> b, bool extended) {
  size_t need = extended ? kExtendedRequestSize : kRequestSize;
  if (b.size() < need) return short_buffer("request header");
  uint32_t magic = get_u32(b.data());
  if (magic != (extended ? kExtendedRequestMagic : kRequestMagic))
    return make_error(EINVAL, "bad request magic");
  Request r;
  r.flags = get_u16(b.data() + 4);
  r.type = get_u16(b.data() + 6);
  r.cookie = get_u64(b.data() + 8);
  r.offset = get_u64(b.data() + 16);
  r.length = extended ? get_u64(b.data() + 24) : get_u32(b.data() + 24);
  return r;
}

void encode_simple_reply(std::byte* out, uint64_t cookie, uint32_t error) {
  put_u32(out, kSimpleReplyMagic);
  put_u32(out + 4, error);
  put_u64(out + 8, cookie);
}

size_t encode_chunk_header(std::byte* out, bool extended, uint16_t flags, uint16_t type, uint64_t cookie,
                           uint64_t offset, uint64_t payload_length) {
  put_u32(out, extended ? kExtendedReplyMagic : kStructuredReplyMagic);
  put_u16(out + 4, flags);
  put_u16(out + 6, type);
  put_u64(out + 8, cookie);
  if (extended) {
    put_u64(out + 16, offset);
    put_u64(out + 24, payload_length);
    return kExtendedReplySize;
  }
  NBD_ASSERT(payload_length <= UINT32_MAX);
  put_u32(out + 16, uint32_t(payload_length));
  return kStructuredReplySize;
}

size_t reply_header_size(uint32_t magic) {
  switch (magic) {
    case kSimpleReplyMagic: return kSimpleReplySize;
    case kStructuredReplyMagic: return kStructuredReplySize;
    case kExtendedReplyMagic: return kExtendedReplySize;
    default: return 0;
  }
}

Result<ReplyHeader> decode_reply_header(std::span<const std::byte> b) {
  if (b.size() < 4) return short_buffer("reply header");
  ReplyHeader h;
  h.magic = get_u32(b.data());
  size_t need = reply_header_size(h.magic);
  if (need == 0) return make_error(EINVAL, "bad reply magic");
  if (b.size() < need) return short_buffer("reply header");
  if (h.magic == kSimpleReplyMagic) {
    h.error = get_u32(b.data() + 4);
    h.cookie = get_u64(b.data() + 8);
    return h;
  }
  h.flags = get_u16(b.data() + 4);
  h.type = get_u16(b.data() + 6);
  h.cookie = get_u64(b.data() + 8);
  if (h.magic == kStructuredReplyMagic) {
    h.length = get_u32(b.data() + 16);
  } else {
    h.offset = get_u64(b.data() + 16);
    h.length = get_u64(b.data() + 24);
  }
  return h;
}

void encode_error_payload(std::vector<std::byte>& out, uint32_t error, std::string_view message,
                          std::optional<uint64_t> offset) {
  if (message.size() > UINT16_MAX) message = message.substr(0, UINT16_MAX);
  Writer w(out);
  w.u32(error).u16(uint16_t(message.size())).str(message);
  if (offset) w.u64(*offset);
}

Result<ErrorPayload> decode_error_payload(uint16_t type, std::span<const std::byte> payload) {
  Reader r(payload);
  ErrorPayload e;
  NBD_TRY_ASSIGN(e.error, r.u32("error chunk"));
  NBD_TRY_ASSIGN(uint16_t len, r.u16("error chunk"));
  NBD_TRY_ASSIGN(e.message, r.str(len, "error message"));
  if (type == kReplyTypeErrorOffset) {
    NBD_TRY_ASSIGN(uint64_t off, r.u64("error offset"));
    e.offset = off;
  }
  if (r.remaining() != 0 && type == kReplyTypeErrorOffset)
    return make_error(EINVAL, "trailing bytes in error chunk");
  return e;
}

void encode_block_status(std::vector<std::byte>& out, bool extended, uint32_t context_id,
                         std::span<const BlockDescriptor> descriptors) {
  Writer w(out);
  w.u32(context_id);
  if (extended) {
    w.u32(uint32_t(descriptors.size()));
    for (const auto& d : descriptors) w.u64(d.length).u64(d.flags);
  } else {
    for (const auto& d : descriptors) {
      NBD_ASSERT(d.length <= UINT32_MAX);
      w.u32(uint32_t(d.length)).u32(uint32_t(d.flags));
    }
  }
}

Result<BlockStatusPayload> decode_block_status(uint16_t type, std::span<const std::byte> payload) {
  Reader r(payload);
  BlockStatusPayload p{};
  NBD_TRY_ASSIGN(p.context_id, r.u32("block status context id"));
  if (type == kReplyTypeBlockStatusExt) {
    NBD_TRY_ASSIGN(uint32_t count, r.u32("block status count"));
    if (count == 0 || r.remaining() != uint64_t(count) * 16)
      return make_error(EINVAL, "block status (extended) has the wrong length");
    for (uint32_t i = 0; i < count; ++i) {
      NBD_TRY_ASSIGN(uint64_t len, r.u64("extent length"));
      NBD_TRY_ASSIGN(uint64_t flags, r.u64("extent flags"));
      p.descriptors.push_back({len, flags});
    }
  } else if (type == kReplyTypeBlockStatus) {
    if (r.remaining() == 0 || r.remaining() % 8 != 0)
      return make_error(EINVAL, "block status has the wrong length");
    while (r.remaining() > 0) {
      NBD_TRY_ASSIGN(uint32_t len, r.u32("extent length"));
      NBD_TRY_ASSIGN(uint32_t flags, r.u32("extent flags"));
      p.descriptors.push_back({len, flags});
    }
  } else {
    return make_error(EINVAL, "not a block status chunk");
  }
  return p;
}

Result<BlockStatusRequestPayload> decode_block_status_request_payload(std::span<const std::byte> b) {
  Reader r(b);
  BlockStatusRequestPayload p{};
  NBD_TRY_ASSIGN(p.effect_length, r.u64("block status effect length"));
  if (r.remaining() % 4 != 0) return make_error(EINVAL, "block status payload has the wrong length");
  while (r.remaining() > 0) {
    NBD_TRY_ASSIGN(uint32_t id, r.u32("context id"));
    p.context_ids.push_back(id);
  }
  return p;
}

const char* command_name(uint16_t command) {
  switch (command) {
    case 0: return "NBD_CMD_READ";
    case 1: return "NBD_CMD_WRITE";
    case 2: return "NBD_CMD_DISC";
    case 3: return "NBD_CMD_FLUSH";
    case 4: return "NBD_CMD_TRIM";
    case 5: return "NBD_CMD_CACHE";
    case 6: return "NBD_CMD_WRITE_ZEROES";
    case 7: return "NBD_CMD_BLOCK_STATUS";
    case 8: return "NBD_CMD_RESIZE";
    default: return "unknown command";
  }
}

const char* reply_type_name(uint16_t type) {
  switch (type) {
    case kReplyTypeNone: return "NBD_REPLY_TYPE_NONE";
    case kReplyTypeOffsetData: return "NBD_REPLY_TYPE_OFFSET_DATA";
    case kReplyTypeOffsetHole: return "NBD_REPLY_TYPE_OFFSET_HOLE";
    case kReplyTypeBlockStatus: return "NBD_REPLY_TYPE_BLOCK_STATUS";
    case kReplyTypeBlockStatusExt: return "NBD_REPLY_TYPE_BLOCK_STATUS_EXT";
    case kReplyTypeError: return "NBD_REPLY_TYPE_ERROR";
    case kReplyTypeErrorOffset: return "NBD_REPLY_TYPE_ERROR_OFFSET";
    default: return "unknown reply type";
  }
}

uint32_t errno_to_nbd(int errnum) {
  switch (errnum) {
    case 0: return 0;
    case EPERM:
    case EROFS: return kEPERM;
    case EIO: return kEIO;
    case ENOMEM: return kENOMEM;
#ifdef EDQUOT
    case EDQUOT:
#endif
    case EFBIG:
    case ENOSPC: return kENOSPC;
    case EOVERFLOW: return kEOVERFLOW;
    case ENOTSUP: return kENOTSUP;
    case ESHUTDOWN: return kESHUTDOWN;
    case EINVAL:
    default: return errnum == EINVAL ? kEINVAL : kEIO;
  }
}

int nbd_to_errno(uint32_t e) {
  switch (e) {
    case 0: return 0;
    case kEPERM: return EPERM;
    case kEIO: return EIO;
    case kENOMEM: return ENOMEM;
    case kEINVAL: return EINVAL;
    case kENOSPC: return ENOSPC;
    case kEOVERFLOW: return EOVERFLOW;
    case kENOTSUP: return ENOTSUP;
    case kESHUTDOWN: return ESHUTDOWN;
    default: return EINVAL;  // the spec: unknown errors are treated as EINVAL
  }
}

}  // namespace nbd::protocol
