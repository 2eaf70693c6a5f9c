// SPDX-License-Identifier: BSD-3-Clause
// NBD wire format (doc/proto.md of NetworkBlockDevice/nbd, including 64-bit extended headers):
// constants, message structs and pure encode/decode. No sockets, no threads, no allocation
// beyond what a returned std::string/vector needs. Shared by the server and the client.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "nbd/extent.h"
#include "nbd/result.h"

namespace nbd::protocol {

// ---- magics ----
inline constexpr uint64_t kNbdMagic = 0x4e42444d41474943ULL;       // "NBDMAGIC"
inline constexpr uint64_t kIHaveOpt = 0x49484156454F5054ULL;       // "IHAVEOPT"
inline constexpr uint64_t kOldstyleMagic = 0x0000420281861253ULL;  // cliserv_magic
inline constexpr uint64_t kOptReplyMagic = 0x0003e889045565a9ULL;
inline constexpr uint32_t kRequestMagic = 0x25609513;
inline constexpr uint32_t kExtendedRequestMagic = 0x21e41c71;
inline constexpr uint32_t kSimpleReplyMagic = 0x67446698;
inline constexpr uint32_t kStructuredReplyMagic = 0x668e33ef;
inline constexpr uint32_t kExtendedReplyMagic = 0x6e8a278c;

// ---- handshake flags (server, 16 bit) and client flags (32 bit) ----
inline constexpr uint16_t kFlagFixedNewstyle = 1 << 0;
inline constexpr uint16_t kFlagNoZeroes = 1 << 1;
inline constexpr uint32_t kClientFlagFixedNewstyle = 1 << 0;
inline constexpr uint32_t kClientFlagNoZeroes = 1 << 1;

// ---- transmission (export) flags, 16 bit ----
inline constexpr uint16_t kFlagHasFlags = 1 << 0;
inline constexpr uint16_t kFlagReadOnly = 1 << 1;
inline constexpr uint16_t kFlagSendFlush = 1 << 2;
inline constexpr uint16_t kFlagSendFua = 1 << 3;
inline constexpr uint16_t kFlagRotational = 1 << 4;
inline constexpr uint16_t kFlagSendTrim = 1 << 5;
inline constexpr uint16_t kFlagSendWriteZeroes = 1 << 6;
inline constexpr uint16_t kFlagSendDf = 1 << 7;
inline constexpr uint16_t kFlagCanMultiConn = 1 << 8;
inline constexpr uint16_t kFlagSendResize = 1 << 9;
inline constexpr uint16_t kFlagSendCache = 1 << 10;
inline constexpr uint16_t kFlagSendFastZero = 1 << 11;
inline constexpr uint16_t kFlagBlockStatPayload = 1 << 12;

// ---- options ----
enum class Option : uint32_t {
  ExportName = 1,
  Abort = 2,
  List = 3,
  PeekExport = 4,  // withdrawn
  StartTls = 5,
  Info = 6,
  Go = 7,
  StructuredReply = 8,
  ListMetaContext = 9,
  SetMetaContext = 10,
  ExtendedHeaders = 11,
};

// ---- option reply types ----
inline constexpr uint32_t kRepAck = 1;
inline constexpr uint32_t kRepServer = 2;
inline constexpr uint32_t kRepInfo = 3;
inline constexpr uint32_t kRepMetaContext = 4;
inline constexpr uint32_t kRepFlagError = 1u << 31;
inline constexpr uint32_t kRepErrUnsup = kRepFlagError | 1;
inline constexpr uint32_t kRepErrPolicy = kRepFlagError | 2;
inline constexpr uint32_t kRepErrInvalid = kRepFlagError | 3;
inline constexpr uint32_t kRepErrPlatform = kRepFlagError | 4;
inline constexpr uint32_t kRepErrTlsReqd = kRepFlagError | 5;
inline constexpr uint32_t kRepErrUnknown = kRepFlagError | 6;
inline constexpr uint32_t kRepErrShutdown = kRepFlagError | 7;
inline constexpr uint32_t kRepErrBlockSizeReqd = kRepFlagError | 8;
inline constexpr uint32_t kRepErrTooBig = kRepFlagError | 9;
inline constexpr uint32_t kRepErrExtHeaderReqd = kRepFlagError | 10;

// ---- NBD_INFO_* ----
inline constexpr uint16_t kInfoExport = 0;
inline constexpr uint16_t kInfoName = 1;
inline constexpr uint16_t kInfoDescription = 2;
inline constexpr uint16_t kInfoBlockSize = 3;

// ---- commands and command flags ----
enum class Command : uint16_t {
  Read = 0,
  Write = 1,
  Disc = 2,
  Flush = 3,
  Trim = 4,
  Cache = 5,
  WriteZeroes = 6,
  BlockStatus = 7,
  Resize = 8,
};
inline constexpr uint16_t kCmdFlagFua = 1 << 0;
inline constexpr uint16_t kCmdFlagNoHole = 1 << 1;
inline constexpr uint16_t kCmdFlagDf = 1 << 2;
inline constexpr uint16_t kCmdFlagReqOne = 1 << 3;
inline constexpr uint16_t kCmdFlagFastZero = 1 << 4;
inline constexpr uint16_t kCmdFlagPayloadLen = 1 << 5;

// ---- structured reply flags and types ----
inline constexpr uint16_t kReplyFlagDone = 1 << 0;
inline constexpr uint16_t kReplyTypeNone = 0;
inline constexpr uint16_t kReplyTypeOffsetData = 1;
inline constexpr uint16_t kReplyTypeOffsetHole = 2;
inline constexpr uint16_t kReplyTypeBlockStatus = 5;
inline constexpr uint16_t kReplyTypeBlockStatusExt = 6;
inline constexpr uint16_t kReplyTypeFlagError = 1 << 15;
inline constexpr uint16_t kReplyTypeError = kReplyTypeFlagError | 1;
inline constexpr uint16_t kReplyTypeErrorOffset = kReplyTypeFlagError | 2;

// ---- NBD error numbers (on the wire; not the host's errno) ----
inline constexpr uint32_t kEPERM = 1;
inline constexpr uint32_t kEIO = 5;
inline constexpr uint32_t kENOMEM = 12;
inline constexpr uint32_t kEINVAL = 22;
inline constexpr uint32_t kENOSPC = 28;
inline constexpr uint32_t kEOVERFLOW = 75;
inline constexpr uint32_t kENOTSUP = 95;
inline constexpr uint32_t kESHUTDOWN = 108;

// ---- base:allocation flags ----
inline constexpr uint32_t kStateHole = kExtentHole;  // defined once, in nbd/extent.h
inline constexpr uint32_t kStateZero = kExtentZero;

inline constexpr std::string_view kContextBaseAllocation = "base:allocation";

// ---- limits ----
inline constexpr size_t kMaxStringLength = 4096;   // export names, descriptions, messages
inline constexpr size_t kMaxOptionLength = 65536;  // we refuse larger options (hard disconnect)
inline constexpr uint32_t kDefaultMaxPayload = 32 * 1024 * 1024;  // 32 MiB, like nbdkit & qemu

// ---- sizes of fixed-size messages ----
inline constexpr size_t kOldstyleHandshakeSize = 152;  // magic, magic, size, flags32, 124 zero
inline constexpr size_t kNewstyleHandshakeSize = 18;   // magic, IHAVEOPT, flags16
inline constexpr size_t kOptionHeaderSize = 16;        // IHAVEOPT, option, length
inline constexpr size_t kOptionReplyHeaderSize = 20;   // magic, option, type, length
inline constexpr size_t kExportNameReplySize = 10;     // size, flags (+124 zeroes unless NO_ZEROES)
inline constexpr size_t kRequestSize = 28;
inline constexpr size_t kExtendedRequestSize = 32;
inline constexpr size_t kSimpleReplySize = 16;
inline constexpr size_t kStructuredReplySize = 20;
inline constexpr size_t kExtendedReplySize = 32;

// ---- byte order: all wire integers are big-endian ----
inline void put_u16(std::byte* p, uint16_t v) {
  p[0] = std::byte(v >> 8);
  p[1] = std::byte(v);
}
inline void put_u32(std::byte* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = std::byte(v >> (24 - 8 * i));
}
inline void put_u64(std::byte* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = std::byte(v >> (56 - 8 * i));
}
inline uint16_t get_u16(const std::byte* p) { return uint16_t((uint16_t(p[0]) << 8) | uint16_t(p[1])); }
inline uint32_t get_u32(const std::byte* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | uint32_t(p[i]);
  return v;
}
inline uint64_t get_u64(const std::byte* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | uint64_t(p[i]);
  return v;
}

// Appends big-endian integers and strings to a growing buffer.
class Writer {
 public:
  explicit Writer(std::vector<std::byte>& out) : out_(out) {}
  Writer& u16(uint16_t v);
  Writer& u32(uint32_t v);
  Writer& u64(uint64_t v);
  Writer& bytes(std::span<const std::byte> b);
  Writer& str(std::string_view s);    // raw bytes, no length
  Writer& str32(std::string_view s);  // u32 length then bytes
  Writer& zeroes(size_t n);

 private:
  std::vector<std::byte>& out_;
};

// Reads big-endian integers and strings from a received buffer; every read is bounds-checked
// and a short buffer gives an EINVAL Error naming what was being read.
class Reader {
 public:
  explicit Reader(std::span<const std::byte> in) : in_(in) {}
  Result<uint16_t> u16(const char* what);
  Result<uint32_t> u32(const char* what);
  Result<uint64_t> u64(const char* what);
  Result<std::string> str(size_t n, const char* what);
  Result<std::string> str32(const char* what);  // u32 length then bytes (<= kMaxStringLength)
  size_t remaining() const { return in_.size() - pos_; }
  std::span<const std::byte> rest() const { return in_.subspan(pos_); }

 private:
  std::span<const std::byte> in_;
  size_t pos_ = 0;
};

// ---- handshake ----
std::vector<std::byte> encode_oldstyle_handshake(uint64_t export_size, uint16_t export_flags);
struct OldstyleHandshake {
  uint64_t export_size;
  uint32_t flags;  // 32 bits in oldstyle; the low 16 are transmission flags
};
Result<OldstyleHandshake> decode_oldstyle_handshake(std::span<const std::byte> b);  // 152 bytes

std::vector<std::byte> encode_newstyle_handshake(uint16_t handshake_flags);

struct OptionHeader {
  uint32_t option;  // not an enum: a client may send any value
  uint32_t length;
};
void encode_option_header(std::vector<std::byte>& out, uint32_t option, uint32_t length);
Result<OptionHeader> decode_option_header(std::span<const std::byte> b);  // 16 bytes

struct OptionReplyHeader {
  uint32_t option;
  uint32_t type;
  uint32_t length;
};
void encode_option_reply(std::vector<std::byte>& out, uint32_t option, uint32_t type,
                         std::span<const std::byte> payload);
Result<OptionReplyHeader> decode_option_reply_header(std::span<const std::byte> b);  // 20 bytes

// NBD_OPT_EXPORT_NAME reply: size, flags, then 124 zero bytes unless no_zeroes.
std::vector<std::byte> encode_export_name_reply(uint64_t size, uint16_t flags, bool no_zeroes);

// NBD_OPT_INFO / NBD_OPT_GO request payload.
struct InfoRequest {
  std::string export_name;
  std::vector<uint16_t> info_requests;
};
std::vector<std::byte> encode_info_request(const InfoRequest& r);
Result<InfoRequest> decode_info_request(std::span<const std::byte> payload);

// NBD_REP_INFO payloads.
std::vector<std::byte> encode_info_export(uint64_t size, uint16_t flags);
std::vector<std::byte> encode_info_name(std::string_view name);
std::vector<std::byte> encode_info_description(std::string_view description);
std::vector<std::byte> encode_info_block_size(const BlockSize& bs);
struct Info {
  uint16_t type = 0;
  uint64_t export_size = 0;   // kInfoExport
  uint16_t export_flags = 0;  // kInfoExport
  std::string text;           // kInfoName / kInfoDescription
  BlockSize block_size;       // kInfoBlockSize
};
Result<Info> decode_info(std::span<const std::byte> payload);  // unknown types: type set, rest empty

// NBD_REP_SERVER payload: name and optional description.
std::vector<std::byte> encode_rep_server(std::string_view name, std::string_view description);
struct RepServer {
  std::string name;
  std::string description;
};
Result<RepServer> decode_rep_server(std::span<const std::byte> payload);

// NBD_OPT_LIST_META_CONTEXT / NBD_OPT_SET_META_CONTEXT payload.
struct MetaContextRequest {
  std::string export_name;
  std::vector<std::string> queries;
};
std::vector<std::byte> encode_meta_context_request(const MetaContextRequest& r);
Result<MetaContextRequest> decode_meta_context_request(std::span<const std::byte> payload);

// NBD_REP_META_CONTEXT payload.
std::vector<std::byte> encode_rep_meta_context(uint32_t id, std::string_view name);
struct RepMetaContext {
  uint32_t id;
  std::string name;
};
Result<RepMetaContext> decode_rep_meta_context(std::span<const std::byte> payload);

// ---- transmission ----
// A request, compact (28 bytes) or extended (32 bytes). In compact form length is 32 bits.
struct Request {
  uint16_t flags = 0;
  uint16_t type = 0;  // Command value; not an enum because a client may send any value
  uint64_t cookie = 0;
  uint64_t offset = 0;
  uint64_t length = 0;
};
// Writes kRequestSize or kExtendedRequestSize bytes into out; returns the number written.
// For compact form length must fit in 32 bits.
size_t encode_request(std::byte* out, const Request& r, bool extended);
// Decodes a request header. Gives EINVAL for a wrong magic.
Result<Request> decode_request(std::span<const std::byte> b, bool extended);

// Simple reply (16 bytes): error is an NBD error number.
void encode_simple_reply(std::byte* out, uint64_t cookie, uint32_t error);

// A structured (20 bytes) or extended (32 bytes) reply chunk header.
struct ReplyHeader {
  uint32_t magic = 0;  // which of the three reply magics it was
  uint32_t error = 0;  // simple replies only
  uint16_t flags = 0;  // structured/extended only
  uint16_t type = 0;
  uint64_t cookie = 0;
  uint64_t offset = 0;  // extended only
  uint64_t length = 0;  // payload length (structured/extended)
};
// Writes the chunk header; returns bytes written (20 or 32).
size_t encode_chunk_header(std::byte* out, bool extended, uint16_t flags, uint16_t type, uint64_t cookie,
                           uint64_t offset, uint64_t payload_length);
// Decodes the first 4 bytes' magic and then the header of the right size. Returns EINVAL on an
// unknown magic. need_bytes(magic) tells a streaming reader how many bytes the header has.
size_t reply_header_size(uint32_t magic);  // 0 for an unknown magic
Result<ReplyHeader> decode_reply_header(std::span<const std::byte> b);

// Chunk payloads.
void encode_error_payload(std::vector<std::byte>& out, uint32_t error, std::string_view message,
                          std::optional<uint64_t> offset);
struct ErrorPayload {
  uint32_t error;
  std::string message;
  std::optional<uint64_t> offset;  // ERROR_OFFSET only
};
Result<ErrorPayload> decode_error_payload(uint16_t type, std::span<const std::byte> payload);

// Block status descriptor; 32-bit replies carry length and flags in 32 bits each.
struct BlockDescriptor {
  uint64_t length;
  uint64_t flags;
};
void encode_block_status(std::vector<std::byte>& out, bool extended, uint32_t context_id,
                         std::span<const BlockDescriptor> descriptors);
struct BlockStatusPayload {
  uint32_t context_id;
  std::vector<BlockDescriptor> descriptors;
};
Result<BlockStatusPayload> decode_block_status(uint16_t type, std::span<const std::byte> payload);

// Client payload of NBD_CMD_BLOCK_STATUS with NBD_CMD_FLAG_PAYLOAD_LEN (extended headers).
struct BlockStatusRequestPayload {
  uint64_t effect_length;
  std::vector<uint32_t> context_ids;
};
Result<BlockStatusRequestPayload> decode_block_status_request_payload(std::span<const std::byte> b);

// Names for logs and debug output.
const char* option_name(uint32_t option);
const char* command_name(uint16_t command);
const char* reply_type_name(uint16_t type);
const char* rep_name(uint32_t rep);

// Host errno <-> NBD wire error. Unknown errnos become EINVAL (for EINVAL-like) or EIO.
uint32_t errno_to_nbd(int errnum);
int nbd_to_errno(uint32_t nbd_error);

}  // namespace nbd::protocol
