// SPDX-License-Identifier: BSD-3-Clause
// validate_request: see validate.h.
#include "server/validate.h"

namespace nbd::server {
namespace {

using namespace nbd::protocol;

Verdict bad(uint32_t error, std::string msg) { return Verdict{error, std::move(msg)}; }

uint16_t allowed_flags(Command c, const ExportCaps& k) {
  uint16_t payload_len = k.extended ? kCmdFlagPayloadLen : 0;
  switch (c) {
    case Command::Read: return k.df ? kCmdFlagDf : 0;
    case Command::Write: return uint16_t(kCmdFlagFua | payload_len);
    case Command::Trim: return kCmdFlagFua;
    case Command::WriteZeroes: return kCmdFlagFua | kCmdFlagNoHole | kCmdFlagFastZero;
    case Command::BlockStatus: return kCmdFlagReqOne;
    default: return 0;
  }
}

bool is_known(uint16_t t) {
  switch (Command(t)) {
    case Command::Read:
    case Command::Write:
    case Command::Disc:
    case Command::Flush:
    case Command::Trim:
    case Command::Cache:
    case Command::WriteZeroes:
    case Command::BlockStatus: return true;
    default: return false;
  }
}

Verdict check_supported(Command c, const ExportCaps& k) {
  bool writes = c == Command::Write || c == Command::Trim || c == Command::WriteZeroes;
  if (writes && k.readonly) return bad(kEPERM, "write to a read-only export");
  if (c == Command::Flush && !k.flush) return bad(kEINVAL, "flush is not supported by this export");
  if (c == Command::Trim && !k.trim) return bad(kEINVAL, "trim is not supported by this export");
  if (c == Command::WriteZeroes && !k.zero) return bad(kEINVAL, "zero is not supported by this export");
  if (c == Command::Cache && !k.cache) return bad(kEINVAL, "cache is not supported by this export");
  if (c == Command::BlockStatus && !k.meta_context)
    return bad(kEINVAL, "block status without a negotiated meta context");
  return {};
}

Verdict check_range(const Request& r, Command c, const ExportCaps& k) {
  if (c == Command::Flush) {
    if (r.offset != 0 || r.length != 0) return bad(kEINVAL, "flush with a non-zero offset or length");
    return {};
  }
  if (r.length == 0) return bad(kEINVAL, std::string(command_name(r.type)) + " of length 0");
  if (r.offset > k.size || r.length > k.size - r.offset) {
    bool write = c == Command::Write || c == Command::WriteZeroes;
    return bad(write ? kENOSPC : kEINVAL,
               std::string(command_name(r.type)) + ": offset " + std::to_string(r.offset) + " and length " +
                   std::to_string(r.length) + " are beyond the end of the export (" + std::to_string(k.size) +
                   " bytes)");
  }
  if (k.min_block > 1 && (r.offset % k.min_block != 0 || r.length % k.min_block != 0))
    return bad(kEINVAL, std::string(command_name(r.type)) +
                            ": offset or length is not a multiple of the minimum block size " +
                            std::to_string(k.min_block));
  if ((c == Command::Read || c == Command::Write) && r.length > k.max_block)
    return bad(kEINVAL, std::string(command_name(r.type)) + ": length " + std::to_string(r.length) +
                            " is larger than the maximum block size " + std::to_string(k.max_block));
  return {};
}

}  // namespace

Verdict validate_request(const Request& r, const ExportCaps& k) {
  if (!is_known(r.type)) return bad(kEINVAL, "unknown command " + std::to_string(r.type));
  Command c = Command(r.type);
  if (c == Command::Disc) return {};
  uint16_t allowed = allowed_flags(c, k);
  if (r.flags & ~allowed)
    return bad(
        kEINVAL, std::string(command_name(r.type)) + ": invalid flags 0x" + [&] {
          char b[8];
          snprintf(b, sizeof b, "%x", unsigned(r.flags));
          return std::string(b);
        }());
  if ((r.flags & kCmdFlagFua) && !k.fua) return bad(kEINVAL, "FUA is not supported by this export");
  if (Verdict v = check_supported(c, k); v.error) return v;
  if (Verdict v = check_range(r, c, k); v.error) return v;
  if ((r.flags & kCmdFlagFastZero) && !k.fast_zero)
    return bad(kENOTSUP, "fast zero is not supported by this export");
  return {};
}

}  // namespace nbd::server
