// SPDX-License-Identifier: BSD-3-Clause
// nbdinfo --can/--cannot, --is/--isnt, --has/--hasnt: answer with the exit status only
// (0 true, 2 false, 1 error), like upstream.
#include <cstdio>
#include <cstring>

#include "nbdinfo.h"

namespace nbdinfo {

using nbd::client::Handle;

namespace {

nbd::Result<bool> can(Handle& h, const std::string& w) {
  if (w == "connect" || w == "read") return true;
  if (w == "write") {
    NBD_TRY_ASSIGN(bool ro, h.is_read_only());
    return !ro;
  }
  if (w == "cache") return h.can_cache();
  if (w == "df") return h.can_df();
  if (w == "fast-zero" || w == "fast_zero") return h.can_fast_zero();
  if (w == "flush") return h.can_flush();
  if (w == "fua") return h.can_fua();
  if (w == "multi-conn" || w == "multi_conn") return h.can_multi_conn();
  if (w == "trim") return h.can_trim();
  if (w == "zero") return h.can_zero();
  if (w == "structured-reply" || w == "structured_reply") return h.get_structured_replies_negotiated();
  if (w == "extended-headers" || w == "extended_headers") return h.get_extended_headers_negotiated();
  return nbd::make_error(EINVAL, "unknown --can or --is option: " + w);
}

nbd::Result<bool> is(Handle& h, const std::string& w) {
  if (w == "read-only" || w == "read_only" || w == "readonly") return h.is_read_only();
  if (w == "rotational") return h.is_rotational();
  if (w == "tls") return h.get_tls_negotiated();
  return nbd::make_error(EINVAL, "unknown --can or --is option: " + w);
}

}  // namespace

int do_can(Handle& h, const Options& o) {
  nbd::Result<bool> r = o.can_kind == "has"  ? h.can_meta_context(o.can_what)
                        : o.can_kind == "is" ? is(h, o.can_what)
                                             : can(h, o.can_what);
  if (!r) {
    fprintf(stderr, "nbdinfo: %s\n", r.error().message.c_str());
    return 1;
  }
  return (*r != o.can_negate) ? 0 : 2;
}

}  // namespace nbdinfo
