// SPDX-License-Identifier: BSD-3-Clause
// The handshake: oldstyle, or fixed newstyle option haggling (EXPORT_NAME, ABORT, LIST,
// STARTTLS, INFO, GO, STRUCTURED_REPLY, LIST/SET_META_CONTEXT, EXTENDED_HEADERS). The plugin
// is opened only when a client asks for an export (INFO/GO/EXPORT_NAME), never before.
#include <algorithm>

#include "nbd/log.h"
#include "server/guard.h"
#include "server/session.h"

namespace nbd::server {
namespace {

using namespace nbd::protocol;

constexpr int kMaxOptions = 256;  // more options than this in one handshake is abuse
constexpr uint32_t kBaseAllocationId = 1;
constexpr uint32_t kMaxPayloadCap = kDefaultMaxPayload;

bool is_power_of_2(uint32_t v) { return v && !(v & (v - 1)); }

uint32_t open_error_rep(int errnum) {
  switch (errnum) {
    case EPERM:
    case EACCES: return kRepErrPolicy;
    case ESHUTDOWN: return kRepErrShutdown;
    case ENOENT: return kRepErrUnknown;
    case EINVAL: return kRepErrInvalid;
    default: return kRepErrUnknown;
  }
}

}  // namespace

Status Session::handshake() {
  io_.set_read_deadline_ns(ctx_.opts.timeout_ns);
  Status s = ctx_.opts.oldstyle ? oldstyle() : newstyle();
  io_.set_read_deadline_ns(0);
  return s;
}

Status Session::open_export(const std::string& requested) {
  bool ro = ctx_.opts.readonly;
  std::string name = requested;
  if (name.empty()) {
    NBD_TRY_ASSIGN(name, ctx_.backend.default_export(ro, tls_on_));
  }
  OpenParams params{.readonly = ro,
                    .export_name = name,
                    .is_tls = tls_on_,
                    .client_address = peer_.address,
                    .peer = peer_,
                    .connection_id = id_,
                    .tls_identity = tls_identity_};
  NBD_TRY_ASSIGN(auto conn, ctx_.backend.open(params));
  const LayerCaps& l = conn->caps();
  // As upstream, block sizes are advertised only when a layer sets them (all zero: none), and
  // then as the layer says, so nbdinfo shows what it shows under upstream for the same command.
  const BlockSize bs = l.block_size;
  const bool has_bs = bs.minimum != 0 || bs.preferred != 0 || bs.maximum != 0;
  if (has_bs && (!is_power_of_2(bs.minimum) || bs.minimum > 65536 || bs.preferred < bs.minimum ||
                 bs.maximum < bs.minimum)) {
    (void)conn->finalize();
    return make_error(EINVAL, "plugin returned invalid block size constraints");
  }
  close_export();  // a client may ask INFO for one export and then GO for another
  ExportCaps k;
  k.size = l.size;
  k.readonly = !l.write;
  k.flush = l.flush;
  k.fua = l.fua != FuaMode::None;
  k.trim = l.trim;
  k.zero = l.zero != ZeroMode::None;
  k.fast_zero = l.fast_zero && k.zero;
  k.cache = l.cache != CacheMode::None;
  // As upstream, the advertised block sizes are advice to the client, not enforced here (only
  // the payload cap is): blocksize-error-policy=error (blocksize-policy filter) refuses what
  // breaks them, the blocksize filter fixes it up for a plugin that cannot cope.
  k.min_block = 1;
  k.max_block = kMaxPayloadCap;
  caps_ = k;
  bs_ = bs;
  description_ = l.description;
  export_name_ = name;
  conn_ = std::move(conn);
  return ok();
}

void Session::settle_caps() {
  caps_.structured = structured_;
  caps_.extended = extended_;
  caps_.meta_context = meta_base_ && structured_;
  caps_.df = structured_;
  const LayerCaps& l = conn_->caps();
  const ExportCaps& k = caps_;
  // As upstream: one connection at a time cannot be several connections at once.
  bool multi_conn = l.multi_conn && ctx_.model != ThreadModel::SerializeConnections;
  eflags_ = kFlagHasFlags | (k.readonly ? kFlagReadOnly : 0) | (k.flush ? kFlagSendFlush : 0) |
            (k.fua ? kFlagSendFua : 0) | (l.rotational ? kFlagRotational : 0) | (k.trim ? kFlagSendTrim : 0) |
            (k.zero ? kFlagSendWriteZeroes : 0) | (k.fast_zero ? kFlagSendFastZero : 0) |
            (multi_conn ? kFlagCanMultiConn : 0) | (k.cache ? kFlagSendCache : 0) | (k.df ? kFlagSendDf : 0);
}

Status Session::reply(uint32_t opt, uint32_t type, std::span<const std::byte> payload) {
  std::vector<std::byte> out;
  encode_option_reply(out, opt, type, payload);
  return io_.write_all(out);
}

Status Session::reply_error(uint32_t opt, uint32_t type, const std::string& message) {
  log::debug("option %s: %s: %s", option_name(opt), rep_name(type), message.c_str());
  std::string m = message.substr(0, kMaxStringLength);
  return reply(opt, type, std::as_bytes(std::span<const char>(m.data(), m.size())));
}

Status Session::oldstyle() {
  NBD_TRY(open_export(ctx_.opts.exportname));
  settle_caps();
  auto hs = encode_oldstyle_handshake(caps_.size, eflags_);
  return io_.write_all(hs);
}

Status Session::newstyle() {
  uint16_t hflags = kFlagFixedNewstyle | kFlagNoZeroes;
  if (ctx_.opts.mask_handshake) hflags &= uint16_t(*ctx_.opts.mask_handshake);
  NBD_TRY(io_.write_all(encode_newstyle_handshake(hflags)));
  std::byte b[kOptionHeaderSize];
  NBD_TRY(io_.read_exact(b, 4));
  uint32_t cflags = get_u32(b);
  if (cflags & ~uint32_t(hflags)) return make_error(EINVAL, "client sent unknown handshake flags");
  fixed_ = cflags & kClientFlagFixedNewstyle;
  no_zeroes_ = cflags & kClientFlagNoZeroes;
  std::vector<std::byte> payload;
  for (int n = 0; n < kMaxOptions; ++n) {
    NBD_TRY(io_.read_exact(b, kOptionHeaderSize));
    NBD_TRY_ASSIGN(OptionHeader h, decode_option_header(std::span<const std::byte>(b, kOptionHeaderSize)));
    if (h.length > kMaxOptionLength) return make_error(EINVAL, "client option is too long");
    payload.resize(h.length);
    NBD_TRY(io_.read_exact(payload.data(), h.length));
    if (!fixed_ && h.option != uint32_t(Option::ExportName))
      return make_error(EINVAL, "non-fixed newstyle client sent an option other than EXPORT_NAME");
    log::debug("newstyle option %s (%u bytes)", option_name(h.option), h.length);
    NBD_TRY_ASSIGN(bool done, option(h.option, payload));
    if (done) return ok();
  }
  return make_error(EINVAL, "client sent too many options");
}

Result<bool> Session::option(uint32_t opt, std::vector<std::byte>& payload) {
  const Options& o = ctx_.opts;
  // --tls=require: nothing but STARTTLS (and ABORT) before TLS, as upstream.
  if (ctx_.tls && ctx_.tls->level() == 2 && !tls_on_ && Option(opt) != Option::StartTls &&
      Option(opt) != Option::Abort) {
    if (Option(opt) == Option::ExportName) {
      log::error("client used NBD_OPT_EXPORT_NAME without TLS, but --tls=require: closing the connection");
      return make_error(0, "client used EXPORT_NAME before TLS");
    }
    if (!warned_plaintext_)
      log::error("client sent %s without TLS, but --tls=require: refused with NBD_REP_ERR_TLS_REQD",
                 option_name(opt));
    warned_plaintext_ = true;
    NBD_TRY(reply_error(opt, kRepErrTlsReqd, "TLS is required before this option"));
    return false;
  }
  switch (Option(opt)) {
    case Option::ExportName: return opt_export_name(payload);
    case Option::Abort: (void)reply(opt, kRepAck); return make_error(0, "client aborted the handshake");
    case Option::List: NBD_TRY(opt_list(opt, payload)); return false;
    case Option::StartTls: NBD_TRY(opt_starttls(opt, payload)); return false;
    case Option::Info:
    case Option::Go: return opt_info_go(opt, payload);
    case Option::StructuredReply:
      if (!payload.empty())
        NBD_TRY(reply_error(opt, kRepErrInvalid, "unexpected payload"));
      else if (o.no_sr)
        NBD_TRY(reply_error(opt, kRepErrUnsup, "structured replies are disabled (--no-sr)"));
      else if (extended_)
        NBD_TRY(reply_error(opt, kRepErrExtHeaderReqd, "extended headers are already negotiated"));
      else {
        structured_ = true;
        NBD_TRY(reply(opt, kRepAck));
      }
      return false;
    case Option::ExtendedHeaders:
      if (!payload.empty())
        NBD_TRY(reply_error(opt, kRepErrInvalid, "unexpected payload"));
      else if (o.no_sr)
        NBD_TRY(reply_error(opt, kRepErrUnsup, "extended headers are disabled (--no-sr)"));
      else {
        extended_ = structured_ = true;
        NBD_TRY(reply(opt, kRepAck));
      }
      return false;
    case Option::ListMetaContext:
    case Option::SetMetaContext: NBD_TRY(opt_meta_context(opt, payload)); return false;
    default:
      NBD_TRY(
          reply_error(opt, kRepErrUnsup, std::string("option ") + std::to_string(opt) + " is not supported"));
      return false;
  }
}

Result<bool> Session::opt_export_name(std::span<const std::byte> payload) {
  if (payload.size() > kMaxStringLength) return make_error(EINVAL, "export name is too long");
  std::string name(reinterpret_cast<const char*>(payload.data()), payload.size());
  Status s = open_export(name);
  if (!s) {  // EXPORT_NAME has no error reply: the only answer is to hang up
    log::error("%s", s.error().message.c_str());
    return make_error(0, "cannot open export for EXPORT_NAME");
  }
  settle_caps();
  NBD_TRY(io_.write_all(encode_export_name_reply(caps_.size, eflags_, no_zeroes_)));
  return true;
}

Status Session::opt_starttls(uint32_t opt, std::span<const std::byte> payload) {
  if (!payload.empty()) return reply_error(opt, kRepErrInvalid, "NBD_OPT_STARTTLS takes no payload");
  if (!ctx_.tls) return reply_error(opt, kRepErrPolicy, "TLS is not enabled on this server");
  if (tls_on_) return reply_error(opt, kRepErrInvalid, "TLS is already active");
  // Bytes after STARTTLS that came before our ACK would be plaintext smuggled into the TLS
  // session (the STARTTLS injection attack): a client that sends them is dropped.
  if (io_.buffered() > 0)
    return make_error(EPROTO, "client sent data after NBD_OPT_STARTTLS before the reply");
  NBD_TRY(reply(opt, kRepAck));
  auto session = ctx_.tls->accept(io_.in_fd(), io_.out_fd(), io_.deadline_left_ns());
  if (!session) {
    log::error("%s", session.error().message.c_str());
    return make_error(0, "TLS handshake failed");
  }
  tls_identity_ = (*session)->identity();
  io_.start_tls(std::move(*session));
  tls_on_ = true;
  // Nothing negotiated in plaintext survives into the TLS session.
  structured_ = extended_ = meta_base_ = false;
  close_export();
  log::debug("TLS handshake complete%s%s", tls_identity_.empty() ? "" : ": peer ", tls_identity_.c_str());
  return ok();
}

Status Session::opt_list(uint32_t opt, std::span<const std::byte> payload) {
  if (!payload.empty()) return reply_error(opt, kRepErrInvalid, "NBD_OPT_LIST takes no payload");
  auto list = ctx_.backend.list_exports(ctx_.opts.readonly, tls_on_);
  if (!list) return reply_error(opt, kRepErrPlatform, list.error().message);
  for (const auto& e : *list) NBD_TRY(reply(opt, kRepServer, encode_rep_server(e.name, e.description)));
  return reply(opt, kRepAck);
}

Result<bool> Session::opt_info_go(uint32_t opt, std::span<const std::byte> payload) {
  auto req = decode_info_request(payload);
  if (!req) {
    NBD_TRY(reply_error(opt, kRepErrInvalid, req.error().message));
    return false;
  }
  if (req->export_name.size() > kMaxStringLength) {
    NBD_TRY(reply_error(opt, kRepErrInvalid, "export name is too long"));
    return false;
  }
  Status s = open_export(req->export_name);
  if (!s) {
    log::error("%s", s.error().message.c_str());
    NBD_TRY(reply_error(opt, open_error_rep(s.error().errnum), s.error().message));
    return false;
  }
  settle_caps();
  NBD_TRY(reply(opt, kRepInfo, encode_info_export(caps_.size, eflags_)));
  auto wants = [&](uint16_t t) {
    return std::find(req->info_requests.begin(), req->info_requests.end(), t) != req->info_requests.end();
  };
  if (wants(kInfoName)) NBD_TRY(reply(opt, kRepInfo, encode_info_name(export_name_)));
  if (wants(kInfoDescription) && !description_.empty())
    NBD_TRY(reply(opt, kRepInfo, encode_info_description(description_.substr(0, kMaxStringLength))));
  if (bs_.minimum != 0)
    NBD_TRY(reply(opt, kRepInfo, encode_info_block_size({bs_.minimum, bs_.preferred, bs_.maximum})));
  NBD_TRY(reply(opt, kRepAck));
  if (Option(opt) == Option::Info) {
    close_export();
    return false;
  }
  return true;
}

Status Session::opt_meta_context(uint32_t opt, std::span<const std::byte> payload) {
  bool set = Option(opt) == Option::SetMetaContext;
  if (ctx_.opts.no_mc) return reply_error(opt, kRepErrUnsup, "meta contexts are disabled (--no-mc)");
  if (set && !structured_)
    return reply_error(opt, kRepErrInvalid, "SET_META_CONTEXT needs structured replies first");
  auto req = decode_meta_context_request(payload);
  if (!req) return reply_error(opt, kRepErrInvalid, req.error().message);
  bool match = false;
  if (req->queries.empty()) {
    match = !set;  // LIST with no queries lists everything; SET with none selects nothing
  } else {
    for (const auto& q : req->queries)
      if (q == kContextBaseAllocation || (!set && q == "base:")) match = true;
  }
  if (set) meta_base_ = match;
  if (match)
    NBD_TRY(reply(opt, kRepMetaContext, encode_rep_meta_context(kBaseAllocationId, kContextBaseAllocation)));
  return reply(opt, kRepAck);
}

}  // namespace nbd::server
