// SPDX-License-Identifier: BSD-3-Clause
// The NEGOTIATING phase (fixed newstyle): one state per option, each sending its option and
// reading the replies. Connecting runs them in the order of next_automatic (STARTTLS, extended
// headers, structured replies, SET_META_CONTEXT, GO); opt mode stops before SET_META_CONTEXT
// and GO and hands control to the opt_* calls, which start one option state each.
#include <cstring>

#include "client/impl.h"

namespace nbd::client {

using namespace nbd::protocol;

namespace {
constexpr uint32_t kMaxOptReply = 16 * 1024 * 1024;

std::string payload_text(const std::vector<std::byte>& p) {
  return std::string(reinterpret_cast<const char*>(p.data()), p.size());
}

// Host errno for an NBD_REP_ERR_* reply.
int rep_errno(uint32_t type) {
  switch (type) {
    case kRepErrUnsup: return ENOTSUP;
    case kRepErrPolicy: return EPERM;
    case kRepErrInvalid: return EINVAL;
    case kRepErrPlatform: return EOPNOTSUPP;
    case kRepErrTlsReqd: return ENOTSUP;
    case kRepErrUnknown: return ENOENT;
    case kRepErrShutdown: return ESHUTDOWN;
    case kRepErrBlockSizeReqd: return EINVAL;
    case kRepErrTooBig: return ERANGE;
    default: return EINVAL;
  }
}
}  // namespace

// The automatic sequence of connect: each step says when it applies, and what follows. Opt
// mode stops before GO and leaves the rest to the opt_* calls.
State Handle::Impl::next_automatic(State after) const {
  switch (after) {
    case State::Handshake:
      if (tls != TlsMode::Disable) return State::OptStartTls;
      [[fallthrough]];
    case State::OptStartTls:
    case State::TlsHandshake:
      if (request_ext) return State::OptExtendedHeaders;
      [[fallthrough]];
    case State::OptExtendedHeaders:
      // Asked even after extended headers: the server may refuse it as redundant.
      if (request_sr) return State::OptStructuredReply;
      [[fallthrough]];
    case State::OptStructuredReply:
      if (opt_mode) return State::Negotiating;
      [[fallthrough]];
    default: return State::OptGo;  // with SET_META_CONTEXT before it: start_go
  }
}

void Handle::Impl::continue_automatic(State after) {
  State next = next_automatic(after);
  if (next == State::Negotiating) return set_state(next);
  if (next == State::OptGo) return start_go(next);
  start_option(next);
}

// Whether SET_META_CONTEXT goes before GO/INFO. Connecting decides on structured replies
// being requested rather than agreed, as when all its options were decided before any reply:
// a server that refused STRUCTURED_REPLY refuses this too, which only means no contexts.
bool Handle::Impl::meta_before_go() const {
  bool may_sr = goal == Goal::Connect ? request_sr : sr;
  return may_sr && request_meta && !meta_requests.empty() && !meta_valid;
}

void Handle::Impl::start_go(State go) {
  if (meta_before_go()) return start_option(State::OptSetMetaContext, MetaOption{nullptr, 0, go});
  start_option(go);
}

// The bytes of the option that state s sends; fills in the option's starting data unless the
// caller brought its own (an opt_* call's callback).
static std::vector<std::byte> option_request(const Handle::Impl& h, State s, OptionData& data) {
  std::vector<std::byte> body;
  switch (s) {
    case State::OptSetMetaContext:
    case State::OptListMetaContext:
      body = encode_meta_context_request(MetaContextRequest{h.export_name, h.meta_requests});
      if (std::holds_alternative<std::monostate>(data)) data = MetaOption{};
      break;
    case State::OptGo:
    case State::OptInfo: {
      InfoRequest req{h.export_name, {}};
      if (h.full_info) req.info_requests = {kInfoName, kInfoDescription};
      if (h.request_block_size) req.info_requests.push_back(kInfoBlockSize);
      body = encode_info_request(req);
      data = ExportOption{};
      break;
    }
    case State::OptList:
      if (std::holds_alternative<std::monostate>(data)) data = ListOption{};
      break;
    default: data = SwitchOption{}; break;
  }
  std::vector<std::byte> b;
  encode_option_header(b, state_option(s), uint32_t(body.size()));
  b.insert(b.end(), body.begin(), body.end());
  return b;
}

// Enters the option's state and sends the option. Only one option is ever on the wire: the
// spec says a client MUST NOT send one before the final reply to the previous one.
void Handle::Impl::start_option(State s, OptionData data) {
  NBD_ASSERT(state_option(s) != 0);
  std::vector<std::byte> b = option_request(*this, s, data);
  opt = std::move(data);
  if (s == State::OptSetMetaContext) meta_contexts.clear();
  set_state(s);
  queue_bytes(b);
  debugf("sending option %s", option_name(state_option(s)));
  if (s == State::OptAbort) {
    // The server may or may not acknowledge; either way we are done once it is sent.
    expect_eof = true;
    close_after_send = true;
    want_then = nullptr;
    return;
  }
  await_opt_reply();
}

void Handle::Impl::await_opt_reply() { want(small, kOptionReplyHeaderSize, &Impl::on_opt_reply_header); }

void Handle::Impl::on_opt_reply_header() {
  auto h = decode_option_reply_header(std::span(small, kOptionReplyHeaderSize));
  if (!h) return set_dead(EPROTO, "handshake: bad option reply: %s", h.error().message.c_str());
  uint32_t sent = state_option(state);
  if (h->option != sent)
    return set_dead(EPROTO, "handshake: reply to option %u while waiting for %s", h->option,
                    option_name(sent));
  if (h->length > kMaxOptReply)
    return set_dead(EPROTO, "handshake: option reply too large (%u bytes)", h->length);
  opt_reply_type = h->type;
  payload.resize(h->length);
  want(payload.data(), payload.size(), &Impl::on_opt_reply_payload);
}

void Handle::Impl::on_opt_reply_payload() {
  debugf("option %s: reply %s (%zu bytes)", option_name(state_option(state)), rep_name(opt_reply_type),
         payload.size());
  handle_opt_reply(opt_reply_type);
}

// Ends the current option: returns control to the opt_* caller, or carries on connecting.
void Handle::Impl::option_done(Status st) {
  if (state == State::Dead || state == State::Closed) return;
  if (goal == Goal::UserOpt) {
    opt_status = st ? ok() : Status(fail(st.error().errnum, "%s", st.error().message.c_str()));
    if (state != State::Ready) set_state(State::Negotiating);
    return finish_async_option();
  }
  if (!st) return set_dead(st.error().errnum, "%s", st.error().message.c_str());
  continue_automatic(state);
}

static Status rep_error(Handle::Impl& h, uint32_t type) {
  std::string msg = payload_text(h.payload);
  if (!msg.empty()) h.debugf("server error message: %s", msg.c_str());
  int err = rep_errno(type);
  uint32_t sent = state_option(h.state);
  bool go = h.state == State::OptGo || h.state == State::OptInfo;
  std::string what = h.export_name.empty() ? "the default export" : "export: " + h.export_name;
  if (type == kRepErrTlsReqd)
    return make_error(err,
                      std::string("server requires TLS encryption first (use nbds:// or set_tls), refused ") +
                          option_name(sent));
  if (go && h.goal == Goal::Connect && type == kRepErrUnknown)
    return make_error(err, "handshake: server has no export named '" + h.export_name + "': " + strerror(err));
  if (go)
    return make_error(err, std::string("server replied with error to ") +
                               (h.state == State::OptGo ? "opt_go" : "opt_info") +
                               " request: " + strerror(err) + " for " + what);
  return make_error(err, std::string("server replied with error to ") + option_name(sent) +
                             " request: " + rep_name(type) + (msg.empty() ? "" : ": ") + msg);
}

static void on_meta_reply(Handle::Impl& h, uint32_t type) {
  bool set = h.state == State::OptSetMetaContext;
  MetaOption& o = h.opt_data<MetaOption>();
  if (type == kRepMetaContext) {
    auto m = decode_rep_meta_context(h.payload);
    if (!m) return h.set_dead(EPROTO, "handshake: bad meta context reply: %s", m.error().message.c_str());
    if (set) h.meta_contexts.emplace_back(m->id, m->name);
    ++o.count;
    if (o.cb && *o.cb) (*o.cb)(m->name);
    return h.await_opt_reply();
  }
  Status st = ok();
  if (type & kRepFlagError)
    st = rep_error(h, type);
  else if (type != kRepAck)
    return h.set_dead(EPROTO, "handshake: unexpected reply %s to meta context option", rep_name(type));
  if (set) h.meta_valid = true;
  // Sent on behalf of GO/INFO: a refusal only means no contexts.
  if (o.then != State::Negotiating) return h.start_option(o.then);
  h.option_done(std::move(st));
}

static void apply_info(ExportInfo& i, const Info& in) {
  switch (in.type) {
    case kInfoExport:
      i.valid = true;
      i.size = in.export_size;
      i.flags = (in.export_flags & kFlagHasFlags) ? in.export_flags : 0;
      break;
    case kInfoName:
      i.canonical_name = in.text;
      i.have_name = true;
      break;
    case kInfoDescription:
      i.description = in.text;
      i.have_description = true;
      break;
    case kInfoBlockSize: i.block_size = in.block_size; break;
    default: break;  // unknown info types are ignored, as the spec asks
  }
}

static void on_go_reply(Handle::Impl& h, uint32_t type) {
  bool go = h.state == State::OptGo;
  ExportInfo& pending = h.opt_data<ExportOption>().pending;
  if (type == kRepInfo) {
    auto in = decode_info(h.payload);
    if (!in) return h.set_dead(EPROTO, "handshake: bad NBD_REP_INFO: %s", in.error().message.c_str());
    apply_info(pending, *in);
    return h.await_opt_reply();
  }
  if (type == kRepAck) {
    if (!pending.valid) return h.set_dead(EPROTO, "handshake: server did not send NBD_INFO_EXPORT");
    h.info = pending;
    if (go) return h.on_ready();
    return h.option_done(ok());
  }
  if (type & kRepFlagError) {
    // Servers without NBD_OPT_GO get the old NBD_OPT_EXPORT_NAME.
    if (go && type == kRepErrUnsup) return h.start_export_name();
    return h.option_done(rep_error(h, type));
  }
  h.set_dead(EPROTO, "handshake: unexpected reply %s to %s", rep_name(type),
             option_name(state_option(h.state)));
}

static void on_list_reply(Handle::Impl& h, uint32_t type) {
  if (type == kRepServer) {
    auto s = decode_rep_server(h.payload);
    if (!s) return h.set_dead(EPROTO, "handshake: bad NBD_REP_SERVER: %s", s.error().message.c_str());
    ListOption& o = h.opt_data<ListOption>();
    ++o.count;
    if (o.cb && *o.cb) (*o.cb)(s->name, s->description);
    return h.await_opt_reply();
  }
  if (type == kRepAck) return h.option_done(ok());
  if (type & kRepFlagError) return h.option_done(rep_error(h, type));
  h.set_dead(EPROTO, "handshake: unexpected reply %s to NBD_OPT_LIST", rep_name(type));
}

void Handle::Impl::handle_opt_reply(uint32_t type) {
  bool err = type & kRepFlagError;
  bool many_replies = state == State::OptList || state == State::OptGo || state == State::OptInfo ||
                      state == State::OptListMetaContext || state == State::OptSetMetaContext;
  if (!err && type != kRepAck && !many_replies)
    return set_dead(EPROTO, "handshake: unexpected reply %s to %s", rep_name(type),
                    option_name(state_option(state)));
  switch (state) {
    case State::OptStartTls:
      if (!err) return start_tls();
      if (tls == TlsMode::Require && goal == Goal::Connect)
        return set_dead(ENOTSUP, "handshake: server refused TLS (%s), but TLS is required", rep_name(type));
      return option_done(ok());
    case State::OptStructuredReply:
      // After extended headers a server may refuse this as redundant; sr stays on.
      if (!ext) sr = !err;
      opt_data<SwitchOption>().agreed = !err;
      return option_done(ok());
    case State::OptExtendedHeaders:
      ext = !err;
      if (ext) sr = true;
      opt_data<SwitchOption>().agreed = ext;
      return option_done(ok());
    case State::OptList: return on_list_reply(*this, type);
    case State::OptListMetaContext:
    case State::OptSetMetaContext: return on_meta_reply(*this, type);
    case State::OptInfo:
    case State::OptGo: return on_go_reply(*this, type);
    default: return option_done(err ? rep_error(*this, type) : ok());
  }
}

void Handle::Impl::start_export_name() {
  std::vector<std::byte> b;
  encode_option_header(b, uint32_t(Option::ExportName), uint32_t(export_name.size()));
  Writer(b).str(export_name);
  queue_bytes(b);
  set_state(State::OptExportName);
  payload.resize(no_zeroes ? kExportNameReplySize : kExportNameReplySize + 124);
  want(payload.data(), payload.size(), &Impl::on_export_name_reply);
}

void Handle::Impl::on_export_name_reply() {
  info = ExportInfo{};
  info.valid = true;
  info.size = get_u64(payload.data());
  uint16_t f = get_u16(payload.data() + 8);
  info.flags = (f & kFlagHasFlags) ? f : 0;
  on_ready();
}

}  // namespace nbd::client
