// SPDX-License-Identifier: BSD-3-Clause
// validate_request: one table row per rule, with the NBD error the spec names.
#include "server/validate.h"

#include <gtest/gtest.h>

namespace nbd::server {
namespace {

using namespace nbd::protocol;

ExportCaps writable() {
  ExportCaps k;
  k.size = 1 << 20;
  k.flush = k.fua = k.trim = k.zero = k.fast_zero = k.cache = true;
  k.structured = k.df = true;
  k.meta_context = true;
  return k;
}

Request req(Command c, uint64_t off, uint64_t len, uint16_t flags = 0) {
  return Request{flags, uint16_t(c), 1, off, len};
}

TEST(Validate, Table) {
  ExportCaps k = writable();
  ExportCaps ro = k;
  ro.readonly = true;
  ExportCaps aligned = k;
  aligned.min_block = 512;
  ExportCaps nofast = k;
  nofast.fast_zero = false;
  ExportCaps plain = k;
  plain.flush = plain.trim = plain.cache = plain.fua = plain.meta_context = plain.df = false;
  struct Row {
    const char* what;
    Request r;
    const ExportCaps& caps;
    uint32_t want;
  } rows[] = {
      {"read ok", req(Command::Read, 0, 4096), k, 0},
      {"read at end ok", req(Command::Read, (1 << 20) - 1, 1), k, 0},
      {"read past end", req(Command::Read, (1 << 20) - 1, 2), k, kEINVAL},
      {"offset overflow", req(Command::Read, UINT64_MAX, 2), k, kEINVAL},
      {"write past end", req(Command::Write, 1 << 20, 1), k, kENOSPC},
      {"zero past end", req(Command::WriteZeroes, 1 << 20, 1), k, kENOSPC},
      {"zero length", req(Command::Read, 0, 0), k, kEINVAL},
      {"unknown command", Request{0, 99, 1, 0, 1}, k, kEINVAL},
      {"unknown flag", req(Command::Read, 0, 1, 1 << 9), k, kEINVAL},
      {"fua on read", req(Command::Read, 0, 1, kCmdFlagFua), k, kEINVAL},
      {"fua on write", req(Command::Write, 0, 1, kCmdFlagFua), k, 0},
      {"fua unsupported", req(Command::Write, 0, 1, kCmdFlagFua), plain, kEINVAL},
      {"df without structured", req(Command::Read, 0, 1, kCmdFlagDf), plain, kEINVAL},
      {"req_one on read", req(Command::Read, 0, 1, kCmdFlagReqOne), k, kEINVAL},
      {"no_hole on zero", req(Command::WriteZeroes, 0, 1, kCmdFlagNoHole), k, 0},
      {"write read-only", req(Command::Write, 0, 1), ro, kEPERM},
      {"trim read-only", req(Command::Trim, 0, 1), ro, kEPERM},
      {"zero read-only", req(Command::WriteZeroes, 0, 1), ro, kEPERM},
      {"read read-only ok", req(Command::Read, 0, 1), ro, 0},
      {"misaligned offset", req(Command::Read, 1, 512), aligned, kEINVAL},
      {"misaligned length", req(Command::Read, 0, 100), aligned, kEINVAL},
      {"aligned ok", req(Command::Read, 512, 1024), aligned, 0},
      {"read too large", req(Command::Read, 0, kDefaultMaxPayload + 1),
       [] {
         static ExportCaps big = writable();
         big.size = 1ull << 30;
         return std::cref(big);
       }()
           .get(),
       kEINVAL},
      {"fast zero unsupported", req(Command::WriteZeroes, 0, 1, kCmdFlagFastZero), nofast, kENOTSUP},
      {"flush with offset", req(Command::Flush, 1, 0), k, kEINVAL},
      {"flush ok", req(Command::Flush, 0, 0), k, 0},
      {"flush unsupported", req(Command::Flush, 0, 0), plain, kEINVAL},
      {"trim unsupported", req(Command::Trim, 0, 1), plain, kEINVAL},
      {"cache unsupported", req(Command::Cache, 0, 1), plain, kEINVAL},
      {"block status without context", req(Command::BlockStatus, 0, 1), plain, kEINVAL},
      {"block status ok", req(Command::BlockStatus, 0, 1, kCmdFlagReqOne), k, 0},
      {"payload_len needs extended", req(Command::Write, 0, 1, kCmdFlagPayloadLen), k, kEINVAL},
  };
  for (const auto& row : rows) EXPECT_EQ(validate_request(row.r, row.caps).error, row.want) << row.what;
}

}  // namespace
}  // namespace nbd::server
