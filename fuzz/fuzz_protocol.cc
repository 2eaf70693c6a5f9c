// SPDX-License-Identifier: BSD-3-Clause
// Fuzz target: every wire decoder of src/protocol on arbitrary bytes. input[0] picks the
// decoder (and the reply type or header mode it is given), the rest is its input. A decoder
// must return a value or an error, never read past its span; what decodes must re-encode
// (where an encoder exists) to bytes that decode to the same value.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "nbd/protocol.h"

namespace p = nbd::protocol;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  uint8_t which = data[0];
  std::span<const std::byte> b(reinterpret_cast<const std::byte*>(data + 1), size - 1);
  switch (which % 14) {
    case 0: (void)p::decode_oldstyle_handshake(b); break;
    case 1: (void)p::decode_option_header(b); break;
    case 2: (void)p::decode_option_reply_header(b); break;
    case 3: (void)p::decode_info_request(b); break;
    case 4: (void)p::decode_info(b); break;
    case 5: (void)p::decode_rep_server(b); break;
    case 6: {
      auto r = p::decode_meta_context_request(b);
      if (r) {
        auto again = p::decode_meta_context_request(p::encode_meta_context_request(*r));
        if (!again || again->queries != r->queries || again->export_name != r->export_name) abort();
      }
      break;
    }
    case 7: (void)p::decode_rep_meta_context(b); break;
    case 8:
    case 9: {
      bool extended = which % 14 == 9;
      auto r = p::decode_request(b, extended);
      if (r) {
        std::byte out[64];
        size_t n = p::encode_request(out, *r, extended);
        auto again = p::decode_request(std::span<const std::byte>(out, n), extended);
        if (!again || again->cookie != r->cookie || again->offset != r->offset ||
            again->length != r->length || again->type != r->type || again->flags != r->flags)
          abort();
      }
      break;
    }
    case 10: (void)p::decode_reply_header(b); break;
    case 11:
      (void)p::decode_error_payload(which & 0x10 ? p::kReplyTypeErrorOffset : p::kReplyTypeError, b);
      break;
    case 12:
      (void)p::decode_block_status(which & 0x10 ? p::kReplyTypeBlockStatusExt : p::kReplyTypeBlockStatus, b);
      break;
    case 13: (void)p::decode_block_status_request_payload(b); break;
  }
  return 0;
}
