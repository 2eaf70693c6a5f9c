// SPDX-License-Identifier: BSD-3-Clause
// Encode/decode of the handshake phase (include/nbd/protocol.h): greetings, options, option
// replies, export info and meta contexts. Pure functions only.
#include <cerrno>

#include "nbd/protocol.h"
#include "protocol/codec.h"

namespace nbd::protocol {

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
std::vector<std::byte> encode_info_block_size(const BlockSize& bs) {
  std::vector<std::byte> out;
  Writer(out).u16(kInfoBlockSize).u32(bs.minimum).u32(bs.preferred).u32(bs.maximum);
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
      NBD_TRY_ASSIGN(info.block_size.minimum, r.u32("minimum block size"));
      NBD_TRY_ASSIGN(info.block_size.preferred, r.u32("preferred block size"));
      NBD_TRY_ASSIGN(info.block_size.maximum, r.u32("maximum block size"));
      break;
    }
    default: break;
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

}  // namespace nbd::protocol
