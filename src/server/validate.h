// SPDX-License-Identifier: BSD-3-Clause
// Request validation done once by the core before any filter or plugin sees a request:
// command, flags, read-only, bounds (overflow-safe), alignment and maximum size.
#pragma once

#include <cstdint>
#include <string>

#include "nbd/protocol.h"

namespace nbd::server {

// What the export advertised to this client (fixed for the life of the connection).
struct ExportCaps {
  uint64_t size = 0;
  bool readonly = false;
  bool flush = false, fua = false, trim = false, zero = false, fast_zero = false;
  bool cache = false, df = false;
  bool structured = false, extended = false;
  bool meta_context = false;  // base:allocation was selected with SET_META_CONTEXT
  uint32_t min_block = 1, max_block = protocol::kDefaultMaxPayload;
};

struct Verdict {
  uint32_t error = 0;   // NBD error number (protocol::kEINVAL ...), 0 = valid
  std::string message;  // why, for the log and structured error chunks
};

// Checks a decoded request. Rules, in order: known command; only flags valid for the command
// (FUA on write/trim/zero if advertised, NO_HOLE and FAST_ZERO on zero, DF on read with
// structured replies, REQ_ONE on block status, PAYLOAD_LEN with extended headers on write);
// EPERM for write/trim/zero on a read-only export; EINVAL for a command not advertised;
// bounds (EINVAL, or ENOSPC for writes past the end); alignment to min_block; reads and
// writes larger than max_block (EINVAL); FAST_ZERO when unsupported (ENOTSUP).
Verdict validate_request(const protocol::Request& r, const ExportCaps& caps);

// The payload a request carries on the wire (writes only).
inline uint64_t request_payload_length(const protocol::Request& r) {
  return r.type == uint16_t(protocol::Command::Write) ? r.length : 0;
}

}  // namespace nbd::server
