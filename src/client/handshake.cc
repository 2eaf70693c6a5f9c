// SPDX-License-Identifier: BSD-3-Clause
// The HANDSHAKE phase: the server's magic, then either the oldstyle export header or the
// newstyle handshake flags and our client flags. Options follow (options.cc).
#include "client/impl.h"

namespace nbd::client {

using namespace nbd::protocol;

void Handle::Impl::start_handshake() {
  set_state(State::Handshake);
  want(small, 16, &Impl::on_magic);
}

void Handle::Impl::on_magic() {
  uint64_t magic = get_u64(small), second = get_u64(small + 8);
  if (magic != kNbdMagic) return set_dead(EPROTO, "handshake: server did not send the NBD magic");
  if (second == kIHaveOpt) return want(small, 2, &Impl::on_newstyle_flags);
  if (second == kOldstyleMagic) {
    payload.resize(kOldstyleHandshakeSize - 16);
    return want(payload.data(), payload.size(), &Impl::on_oldstyle);
  }
  set_dead(EPROTO, "handshake: unknown protocol version after the NBD magic");
}

void Handle::Impl::on_oldstyle() {
  oldstyle = true;
  if (tls == TlsMode::Require) return set_dead(ENOTSUP, "handshake: server is oldstyle, which cannot do TLS");
  info = ExportInfo{};
  info.valid = true;
  info.size = get_u64(payload.data());
  // 32 bits of flags on the wire; the low 16 are the transmission flags.
  info.flags = uint16_t(get_u32(payload.data() + 8));
  if (!(info.flags & kFlagHasFlags)) info.flags = 0;
  debugf("oldstyle export: size %llu flags 0x%x", (unsigned long long)info.size, info.flags);
  on_ready();
}

void Handle::Impl::on_newstyle_flags() {
  uint16_t server = get_u16(small);
  fixed_newstyle = (server & kFlagFixedNewstyle) && (handshake_flags & kHandshakeFlagFixedNewstyle);
  no_zeroes = (server & kFlagNoZeroes) && (handshake_flags & kHandshakeFlagNoZeroes) && fixed_newstyle;
  uint32_t client = (fixed_newstyle ? kClientFlagFixedNewstyle : 0) | (no_zeroes ? kClientFlagNoZeroes : 0);
  std::byte b[4];
  put_u32(b, client);
  queue_bytes(b);
  debugf("newstyle handshake: server flags 0x%x, client flags 0x%x", server, client);
  if (!fixed_newstyle) {
    // Plain newstyle knows only NBD_OPT_EXPORT_NAME: no TLS, no structured replies.
    if (tls == TlsMode::Require)
      return set_dead(ENOTSUP, "handshake: server is not fixed newstyle, which cannot do TLS");
    if (opt_mode) {
      set_state(State::Negotiating);
      return;
    }
    return start_export_name();
  }
  goal = Goal::Connect;
  continue_automatic(State::Handshake);
}

}  // namespace nbd::client
