// SPDX-License-Identifier: BSD-3-Clause
// Encode/decode of NBD wire messages (include/nbd/protocol.h). Pure functions only.
#include "nbd/protocol.h"

#include <cerrno>

namespace nbd::protocol {

namespace {
Error short_buffer(const char* what) { return make_error(EINVAL, std::string("truncated ") + what); }
}  // namespace

Writer& Writer::u16(uint16_t v) {
  size_t n = out_.size();
  out_.resize(n + 2);
  put_u16(out_.data() + n, v);
  return *this;
}
Writer& Writer::u32(uint32_t v) {
  size_t n = out_.size();
  out_.resize(n + 4);
  put_u32(out_.data() + n, v);
  return *this;
}
Writer& Writer::u64(uint64_t v) {
  size_t n = out_.size();
  out_.resize(n + 8);
  put_u64(out_.data() + n, v);
  return *this;
}
Writer& Writer::bytes(std::span<const std::byte> b) {
  out_.insert(out_.end(), b.begin(), b.end());
  return *this;
}
Writer& Writer::str(std::string_view s) {
  auto p = reinterpret_cast<const std::byte*>(s.data());
  out_.insert(out_.end(), p, p + s.size());
  return *this;
}
Writer& Writer::str32(std::string_view s) { return u32(uint32_t(s.size())).str(s); }
Writer& Writer::zeroes(size_t n) {
  out_.resize(out_.size() + n, std::byte{0});
  return *this;
}

Result<uint16_t> Reader::u16(const char* what) {
  if (remaining() < 2) return short_buffer(what);
  uint16_t v = get_u16(in_.data() + pos_);
  pos_ += 2;
  return v;
}
Result<uint32_t> Reader::u32(const char* what) {
  if (remaining() < 4) return short_buffer(what);
  uint32_t v = get_u32(in_.data() + pos_);
  pos_ += 4;
  return v;
}
Result<uint64_t> Reader::u64(const char* what) {
  if (remaining() < 8) return short_buffer(what);
  uint64_t v = get_u64(in_.data() + pos_);
  pos_ += 8;
  return v;
}
Result<std::string> Reader::str(size_t n, const char* what) {
  if (remaining() < n) return short_buffer(what);
  std::string s(reinterpret_cast<const char*>(in_.data() + pos_), n);
  pos_ += n;
  return s;
}
Result<std::string> Reader::str32(const char* what) {
  NBD_TRY_ASSIGN(uint32_t n, u32(what));
  if (n > kMaxStringLength) return make_error(EINVAL, std::string(what) + " is too long");
  return str(n, what);
}

// ---- handshake ----
std::vector<std::byte> encode_oldstyle_handshake(uint64_t export_size, uint16_t export_flags) {
  std::vector<std::byte> out;
  Writer(out).u64(kNbdMagic).u64(kOldstyleMagic).u64(export_size).u32(export_flags).zeroes(124);
  return out;
}

Result<OldstyleHandshake> decode_oldstyle_handshake(std::span<const std::byte> b) {
  Reader r(b);
  NBD_TRY_ASSIGN(uint64_t m1, r.u64("oldstyle handshake"));
  NBD_TRY_ASSIGN(uint64_t m2, r.u64("oldstyle handshake"));
  if (m1 != kNbdMagic || m2 != kOldstyleMagic) return make_error(EINVAL, "not an oldstyle NBD handshake");
  NBD_TRY_ASSIGN(uint64_t size, r.u64("oldstyle export size"));
  NBD_TRY_ASSIGN(uint32_t flags, r.u32("oldstyle flags"));
  if (r.remaining() < 124) return short_buffer("oldstyle handshake padding");
  return OldstyleHandshake{size, flags};
}

std::vector<std::byte> encode_newstyle_handshake(uint16_t handshake_flags) {
  std::vector<std::byte> out;
  Writer(out).u64(kNbdMagic).u64(kIHaveOpt).u16(handshake_flags);
  return out;
}

void encode_option_header(std::vector<std::byte>& out, uint32_t option, uint32_t length) {
  Writer(out).u64(kIHaveOpt).u32(option).u32(length);
}

Result<OptionHeader> decode_option_header(std::span<const std::byte> b) {
  Reader r(b);
  NBD_TRY_ASSIGN(uint64_t magic, r.u64("option header"));
  if (magic != kIHaveOpt) return make_error(EINVAL, "bad option magic (expected IHAVEOPT)");
  NBD_TRY_ASSIGN(uint32_t option, r.u32("option header"));
  NBD_TRY_ASSIGN(uint32_t length, r.u32("option header"));
  return OptionHeader{option, length};
}

void encode_option_reply(std::vector<std::byte>& out, uint32_t option, uint32_t type,
                         std::span<const std::byte> payload) {
  Writer(out).u64(kOptReplyMagic).u32(option).u32(type).u32(uint32_t(payload.size())).bytes(payload);
}

Result<OptionReplyHeader> decode_option_reply_header(std::span<const std::byte> b) {
  Reader r(b);
  NBD_TRY_ASSIGN(uint64_t magic, r.u64("option reply"));
  if (magic != kOptReplyMagic) return make_error(EINVAL, "bad option reply magic");
  NBD_TRY_ASSIGN(uint32_t option, r.u32("option reply"));
  NBD_TRY_ASSIGN(uint32_t type, r.u32("option reply"));
  NBD_TRY_ASSIGN(uint32_t length, r.u32("option reply"));
  return OptionReplyHeader{option, type, length};
}

std::vector<std::byte> encode_export_name_reply(uint64_t size, uint16_t flags, bool no_zeroes) {
  std::vector<std::byte> out;
  Writer w(out);
  w.u64(size).u16(flags);
  if (!no_zeroes) w.zeroes(124);
  return out;
}

std::vector<std::byte> encode_info_request(const InfoRequest& req) {
  std::vector<std::byte> out;
  Writer w(out);
  w.str32(req.export_name).u16(uint16_t(req.info_requests.size()));
  for (uint16_t i : req.info_requests) w.u16(i);
  return out;
}

Result<InfoRequest> decode_info_request(std::span<const std::byte> payload) {
  Reader r(payload);
  InfoRequest req;
  NBD_TRY_ASSIGN(req.export_name, r.str32("export name"));
  NBD_TRY_ASSIGN(uint16_t n, r.u16("number of info requests"));
  if (r.remaining() != size_t(n) * 2) return make_error(EINVAL, "info request list length mismatch");
  for (uint16_t i = 0; i < n; ++i) {
    NBD_TRY_ASSIGN(uint16_t t, r.u16("info request"));
    req.info_requests.push_back(t);
  }
  return req;
}

std::vector<std::byte> encode_info_export(uint64_t size, uint16_t flags) {
  std::vector<std::byte> out;
  Writer(out).u16(kInfoExport).u64(size).u16(flags);
  return out;
}
std::vector<std::byte> encode_info_name(std::string_view name) {
  std::vector<std::byte> out;
  Writer(out).u16(kInfoName).str(name);
  return out;
}
std::vector<std::byte> encode_info_description(std::string_view description) {
  std::vector<std::byte> out;
  Writer(out).u16(kInfoDescription).str(description);
  return out;
}
std::vector<std::byte> encode_info_block_size(uint32_t minimum, uint32_t preferred, uint32_t maximum) {
  std::vector<std::byte> out;
  Writer(out).u16(kInfoBlockSize).u32(minimum).u32(preferred).u32(maximum);
  return out;
}

Result<Info> decode_info(std::span<const std::byte> payload) {
  Reader r(payload);
  Info info;
  NBD_TRY_ASSIGN(info.type, r.u16("info type"));
  switch (info.type) {
    case kInfoExport: {
      if (r.remaining() != 10) return make_error(EINVAL, "NBD_INFO_EXPORT has the wrong length");
      NBD_TRY_ASSIGN(info.export_size, r.u64("export size"));
      NBD_TRY_ASSIGN(info.export_flags, r.u16("export flags"));
      break;
    }
    case kInfoName:
    case kInfoDescription: {
      if (r.remaining() > kMaxStringLength) return make_error(EINVAL, "info string is too long");
      NBD_TRY_ASSIGN(info.text, r.str(r.remaining(), "info string"));
      break;
    }
    case kInfoBlockSize: {
      if (r.remaining() != 12) return make_error(EINVAL, "NBD_INFO_BLOCK_SIZE has the wrong length");
      NBD_TRY_ASSIGN(info.min_block, r.u32("minimum block size"));
      NBD_TRY_ASSIGN(info.preferred_block, r.u32("preferred block size"));
      NBD_TRY_ASSIGN(info.max_block, r.u32("maximum block size"));
      break;
    }
    default:
      break;
  }
  return info;
}

std::vector<std::byte> encode_rep_server(std::string_view name, std::string_view description) {
  std::vector<std::byte> out;
  Writer(out).str32(name).str(description);
  return out;
}

Result<RepServer> decode_rep_server(std::span<const std::byte> payload) {
  Reader r(payload);
  RepServer s;
  NBD_TRY_ASSIGN(s.name, r.str32("export name"));
  if (r.remaining() > kMaxStringLength) return make_error(EINVAL, "export description is too long");
  NBD_TRY_ASSIGN(s.description, r.str(r.remaining(), "export description"));
  return s;
}

std::vector<std::byte> encode_meta_context_request(const MetaContextRequest& req) {
  std::vector<std::byte> out;
  Writer w(out);
  w.str32(req.export_name).u32(uint32_t(req.queries.size()));
  for (const auto& q : req.queries) w.str32(q);
  return out;
}

Result<MetaContextRequest> decode_meta_context_request(std::span<const std::byte> payload) {
  Reader r(payload);
  MetaContextRequest req;
  NBD_TRY_ASSIGN(req.export_name, r.str32("export name"));
  NBD_TRY_ASSIGN(uint32_t n, r.u32("number of queries"));
  // Each query needs at least its 4-byte length: refuse counts the payload cannot hold.
  if (uint64_t(n) * 4 > r.remaining()) return make_error(EINVAL, "too many meta context queries");
  for (uint32_t i = 0; i < n; ++i) {
    NBD_TRY_ASSIGN(auto q, r.str32("meta context query"));
    req.queries.push_back(std::move(q));
  }
  if (r.remaining() != 0) return make_error(EINVAL, "trailing bytes after meta context queries");
  return req;
}

std::vector<std::byte> encode_rep_meta_context(uint32_t id, std::string_view name) {
  std::vector<std::byte> out;
  Writer(out).u32(id).str(name);
  return out;
}

Result<RepMetaContext> decode_rep_meta_context(std::span<const std::byte> payload) {
  Reader r(payload);
  RepMetaContext m{};
  NBD_TRY_ASSIGN(m.id, r.u32("meta context id"));
  if (r.remaining() > kMaxStringLength) return make_error(EINVAL, "meta context name is too long");
  NBD_TRY_ASSIGN(m.name, r.str(r.remaining(), "meta context name"));
  return m;
}

// ---- transmission ----
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

const char* option_name(uint32_t option) {
  switch (option) {
    case 1: return "NBD_OPT_EXPORT_NAME";
    case 2: return "NBD_OPT_ABORT";
    case 3: return "NBD_OPT_LIST";
    case 4: return "NBD_OPT_PEEK_EXPORT";
    case 5: return "NBD_OPT_STARTTLS";
    case 6: return "NBD_OPT_INFO";
    case 7: return "NBD_OPT_GO";
    case 8: return "NBD_OPT_STRUCTURED_REPLY";
    case 9: return "NBD_OPT_LIST_META_CONTEXT";
    case 10: return "NBD_OPT_SET_META_CONTEXT";
    case 11: return "NBD_OPT_EXTENDED_HEADERS";
    default: return "unknown option";
  }
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

const char* rep_name(uint32_t rep) {
  switch (rep) {
    case kRepAck: return "NBD_REP_ACK";
    case kRepServer: return "NBD_REP_SERVER";
    case kRepInfo: return "NBD_REP_INFO";
    case kRepMetaContext: return "NBD_REP_META_CONTEXT";
    case kRepErrUnsup: return "NBD_REP_ERR_UNSUP";
    case kRepErrPolicy: return "NBD_REP_ERR_POLICY";
    case kRepErrInvalid: return "NBD_REP_ERR_INVALID";
    case kRepErrPlatform: return "NBD_REP_ERR_PLATFORM";
    case kRepErrTlsReqd: return "NBD_REP_ERR_TLS_REQD";
    case kRepErrUnknown: return "NBD_REP_ERR_UNKNOWN";
    case kRepErrShutdown: return "NBD_REP_ERR_SHUTDOWN";
    case kRepErrBlockSizeReqd: return "NBD_REP_ERR_BLOCK_SIZE_REQD";
    case kRepErrTooBig: return "NBD_REP_ERR_TOO_BIG";
    case kRepErrExtHeaderReqd: return "NBD_REP_ERR_EXT_HEADER_REQD";
    default: return "unknown reply";
  }
}

uint32_t errno_to_nbd(int errnum) {
  switch (errnum) {
    case 0: return 0;
    case EPERM: case EROFS: return kEPERM;
    case EIO: return kEIO;
    case ENOMEM: return kENOMEM;
#ifdef EDQUOT
    case EDQUOT:
#endif
    case EFBIG: case ENOSPC: return kENOSPC;
    case EOVERFLOW: return kEOVERFLOW;
    case ENOTSUP: return kENOTSUP;
    case ESHUTDOWN: return kESHUTDOWN;
    case EINVAL: default: return errnum == EINVAL ? kEINVAL : kEIO;
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
