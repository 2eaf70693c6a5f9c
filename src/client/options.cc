// SPDX-License-Identifier: BSD-3-Clause
// The NEGOTIATING phase (fixed newstyle): option requests and their replies. After STARTTLS,
// extended headers, structured replies, SET_META_CONTEXT and GO are decided as one batch but
// go on the wire one at a time, each after the final reply to the one before, as the spec
// requires (doc/proto.md: "The client MUST NOT send any option until it has received a final
// reply to any option it has sent").
// Opt mode stops before GO and hands control to the opt_* calls.
#include <cstring>

#include "client/impl.h"

namespace nbd::client {

using namespace nbd::protocol;

namespace {
constexpr uint32_t kMaxOptReply = 16 * 1024 * 1024;
constexpr uint32_t opt(Option o) { return uint32_t(o); }

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

void Handle::Impl::continue_negotiation() {
  if (tls != TlsMode::Disable && !tls_tried) {
    tls_tried = true;
    return send_option(opt(Option::StartTls), {});
  }
  if (request_ext && !ext_tried) {
    ext_tried = true;
    send_option(opt(Option::ExtendedHeaders), {});
  }
  if (request_sr && !sr && !sr_tried) {
    sr_tried = true;
    send_option(opt(Option::StructuredReply), {});
  }
  if (!opt_mode && !go_sent) {
    go_sent = true;
    send_go_or_info(opt(Option::Go));
  }
  if (opts_sent.empty()) set_state(State::Negotiating);
}

void Handle::Impl::send_option(uint32_t option, std::span<const std::byte> body) {
  std::vector<std::byte> b;
  encode_option_header(b, option, uint32_t(body.size()));
  b.insert(b.end(), body.begin(), body.end());
  set_state(State::Option);
  if (!opts_sent.empty() && option != opt(Option::Abort)) {
    opts_sent.push_back(option);  // goes out when the option before it is answered
    opts_unsent.push_back(std::move(b));
    return;
  }
  queue_bytes(b);
  debugf("sending option %s", option_name(option));
  if (option == opt(Option::Abort)) {
    // The server may or may not acknowledge; either way we are done once it is sent.
    cur_opt = option;
    expect_eof = true;
    close_after_send = true;
    want_then = nullptr;
    return;
  }
  opts_sent.push_back(option);
  if (opts_sent.size() == 1) next_opt_reply();
}

// Waits for the reply to the oldest unanswered option.
void Handle::Impl::next_opt_reply() {
  cur_opt = opts_sent.front();
  want(small, kOptionReplyHeaderSize, &Impl::on_opt_reply_header);
}

void Handle::Impl::send_go_or_info(uint32_t option) {
  // SET_META_CONTEXT needs structured replies: known by now in opt mode, still on its way
  // (in the same batch) when connecting.
  bool may_sr = sr || (request_sr && !sr_refused);
  meta_auto = may_sr && request_meta && !meta_requests.empty() && !meta_done;
  if (meta_auto) send_set_meta(opt(Option::SetMetaContext));
  InfoRequest req{export_name, {}};
  if (full_info) req.info_requests = {kInfoName, kInfoDescription};
  if (request_block_size) req.info_requests.push_back(kInfoBlockSize);
  pending_info = ExportInfo{};
  send_option(option, encode_info_request(req));
}

void Handle::Impl::send_set_meta(uint32_t option) {
  if (option == opt(Option::SetMetaContext)) meta_contexts.clear();
  MetaContextRequest req{export_name, meta_requests};
  send_option(option, encode_meta_context_request(req));
}

void Handle::Impl::on_opt_reply_header() {
  auto h = decode_option_reply_header(std::span(small, kOptionReplyHeaderSize));
  if (!h) return set_dead(EPROTO, "handshake: bad option reply: %s", h.error().message.c_str());
  if (h->option != cur_opt)
    return set_dead(EPROTO, "handshake: reply to option %u while waiting for %s", h->option, option_name(cur_opt));
  if (h->length > kMaxOptReply) return set_dead(EPROTO, "handshake: option reply too large (%u bytes)", h->length);
  opt_reply_type = h->type;
  payload.resize(h->length);
  want(payload.data(), payload.size(), &Impl::on_opt_reply_payload);
}

void Handle::Impl::on_opt_reply_payload() {
  debugf("option %s: reply %s (%zu bytes)", option_name(cur_opt), rep_name(opt_reply_type), payload.size());
  handle_opt_reply(opt_reply_type);
}

// Ends the current option: returns control to the opt_* caller, or carries on connecting.
void Handle::Impl::option_done(Status st) {
  if (state == State::Dead || state == State::Closed) return;
  if (!opts_sent.empty()) opts_sent.erase(opts_sent.begin());
  if (!opts_sent.empty()) {
    // A batch: only the last option's outcome is the caller's (or fatal when connecting).
    if (!st) debugf("%s", st.error().message.c_str());
    NBD_ASSERT(!opts_unsent.empty());
    queue_bytes(opts_unsent.front());
    opts_unsent.pop_front();
    debugf("sending option %s", option_name(opts_sent.front()));
    return next_opt_reply();
  }
  if (goal == Goal::UserOpt) {
    opt_status = st ? ok() : Status(fail(st.error().errnum, "%s", st.error().message.c_str()));
    if (state != State::Ready) set_state(State::Negotiating);
    return;
  }
  if (!st) return set_dead(st.error().errnum, "%s", st.error().message.c_str());
  continue_negotiation();
}

static Status rep_error(Handle::Impl& h, uint32_t type) {
  std::string msg = payload_text(h.payload);
  if (!msg.empty()) h.debugf("server error message: %s", msg.c_str());
  int err = rep_errno(type);
  bool go = h.cur_opt == opt(Option::Go) || h.cur_opt == opt(Option::Info);
  std::string what = h.export_name.empty() ? "the default export" : "export: " + h.export_name;
  if (type == kRepErrTlsReqd)
    return make_error(err, std::string("server requires TLS encryption first (use nbds:// or set_tls), refused ") +
                               option_name(h.cur_opt));
  if (go && h.goal == Goal::Connect && type == kRepErrUnknown)
    return make_error(err, "handshake: server has no export named '" + h.export_name + "': " + strerror(err));
  if (go)
    return make_error(err, std::string("server replied with error to ") +
                               (h.cur_opt == opt(Option::Go) ? "opt_go" : "opt_info") + " request: " + strerror(err) +
                               " for " + what);
  return make_error(err, std::string("server replied with error to ") + option_name(h.cur_opt) + " request: " +
                             rep_name(type) + (msg.empty() ? "" : ": ") + msg);
}

static void on_meta_reply(Handle::Impl& h, uint32_t type) {
  bool set = h.cur_opt == opt(Option::SetMetaContext);
  if (type == kRepMetaContext) {
    auto m = decode_rep_meta_context(h.payload);
    if (!m) return h.set_dead(EPROTO, "handshake: bad meta context reply: %s", m.error().message.c_str());
    if (set) h.meta_contexts.emplace_back(m->id, m->name);
    ++h.opt_count;
    if (h.ctx_cb && *h.ctx_cb) (*h.ctx_cb)(m->name);
    return h.want(h.small, kOptionReplyHeaderSize, &Handle::Impl::on_opt_reply_header);
  }
  Status st = ok();
  if (type & kRepFlagError) st = rep_error(h, type);
  else if (type != kRepAck) return h.set_dead(EPROTO, "handshake: unexpected reply %s to meta context option", rep_name(type));
  if (set) h.meta_done = true;
  // The automatic SET_META_CONTEXT before GO/INFO: a refusal only means no contexts.
  if (set && h.meta_auto) {
    h.meta_auto = false;
    st = ok();
  }
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
    case kInfoBlockSize:
      i.block_min = in.min_block;
      i.block_pref = in.preferred_block;
      i.block_max = in.max_block;
      break;
    default: break;  // unknown info types are ignored, as the spec asks
  }
}

static void on_go_reply(Handle::Impl& h, uint32_t type) {
  bool go = h.cur_opt == opt(Option::Go);
  if (type == kRepInfo) {
    auto in = decode_info(h.payload);
    if (!in) return h.set_dead(EPROTO, "handshake: bad NBD_REP_INFO: %s", in.error().message.c_str());
    apply_info(h.pending_info, *in);
    return h.want(h.small, kOptionReplyHeaderSize, &Handle::Impl::on_opt_reply_header);
  }
  if (type == kRepAck) {
    if (!h.pending_info.valid) return h.set_dead(EPROTO, "handshake: server did not send NBD_INFO_EXPORT");
    h.info = h.pending_info;
    if (go) {
      h.opts_sent.clear();
      h.opts_unsent.clear();  // GO is always the last of a batch
      return h.on_ready();
    }
    return h.option_done(ok());
  }
  if (type & kRepFlagError) {
    // Servers without NBD_OPT_GO get the old NBD_OPT_EXPORT_NAME.
    if (go && type == kRepErrUnsup) {
      h.opts_sent.clear();
      h.opts_unsent.clear();
      return h.start_export_name();
    }
    return h.option_done(rep_error(h, type));
  }
  h.set_dead(EPROTO, "handshake: unexpected reply %s to %s", rep_name(type), option_name(h.cur_opt));
}

static void on_list_reply(Handle::Impl& h, uint32_t type) {
  if (type == kRepServer) {
    auto s = decode_rep_server(h.payload);
    if (!s) return h.set_dead(EPROTO, "handshake: bad NBD_REP_SERVER: %s", s.error().message.c_str());
    ++h.opt_count;
    if (h.list_cb && *h.list_cb) (*h.list_cb)(s->name, s->description);
    return h.want(h.small, kOptionReplyHeaderSize, &Handle::Impl::on_opt_reply_header);
  }
  if (type == kRepAck) return h.option_done(ok());
  if (type & kRepFlagError) return h.option_done(rep_error(h, type));
  h.set_dead(EPROTO, "handshake: unexpected reply %s to NBD_OPT_LIST", rep_name(type));
}

void Handle::Impl::handle_opt_reply(uint32_t type) {
  bool err = type & kRepFlagError;
  if (!err && type != kRepAck && cur_opt != opt(Option::List) && cur_opt != opt(Option::Go) &&
      cur_opt != opt(Option::Info) && cur_opt != opt(Option::ListMetaContext) &&
      cur_opt != opt(Option::SetMetaContext))
    return set_dead(EPROTO, "handshake: unexpected reply %s to %s", rep_name(type), option_name(cur_opt));
  switch (Option(cur_opt)) {
    case Option::StartTls:
      if (!err) {
        opts_unsent.clear();
        opts_sent.clear();  // STARTTLS is always sent alone
        return start_tls();
      }
      if (tls == TlsMode::Require || goal == Goal::UserOpt) {
        if (goal == Goal::UserOpt) return option_done(ok());
        return set_dead(ENOTSUP, "handshake: server refused TLS (%s), but TLS is required", rep_name(type));
      }
      return option_done(ok());
    case Option::StructuredReply:
      // After extended headers a server may refuse this as redundant; sr stays on.
      if (!ext) sr = !err;
      sr_refused = err && !ext;
      opt_bool = !err;
      return option_done(ok());
    case Option::ExtendedHeaders:
      ext = !err;
      if (ext) sr = true;
      opt_bool = ext;
      return option_done(ok());
    case Option::List: return on_list_reply(*this, type);
    case Option::ListMetaContext:
    case Option::SetMetaContext: return on_meta_reply(*this, type);
    case Option::Info:
    case Option::Go: return on_go_reply(*this, type);
    default: return option_done(err ? rep_error(*this, type) : ok());
  }
}

void Handle::Impl::start_export_name() {
  std::vector<std::byte> b;
  encode_option_header(b, opt(Option::ExportName), uint32_t(export_name.size()));
  Writer(b).str(export_name);
  queue_bytes(b);
  cur_opt = opt(Option::ExportName);
  set_state(State::ExportName);
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
