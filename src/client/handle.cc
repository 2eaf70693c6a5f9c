// SPDX-License-Identifier: BSD-3-Clause
// Handle construction, settings, errors, debug output and the export-info getters.
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "client/impl.h"

namespace nbd::client {

const char* version() { return "0.1.0"; }

namespace {
std::atomic<unsigned> handle_counter{0};
}  // namespace

namespace {
using protocol::Option;

// The state table: name, the option the state sends, whether it is part of connecting.
struct StateRow {
  State state;
  const char* name;
  Option option;
  bool connecting;
};
constexpr Option kNoOption{};
constexpr StateRow kStates[] = {
    {State::Created, "CREATED", kNoOption, false},
    {State::Connecting, "CONNECTING", kNoOption, true},
    {State::Handshake, "HANDSHAKE", kNoOption, true},
    {State::OptStartTls, "NEWSTYLE.OPT_STARTTLS", Option::StartTls, true},
    {State::TlsHandshake, "NEWSTYLE.TLS_HANDSHAKE", kNoOption, true},
    {State::OptExtendedHeaders, "NEWSTYLE.OPT_EXTENDED_HEADERS", Option::ExtendedHeaders, true},
    {State::OptStructuredReply, "NEWSTYLE.OPT_STRUCTURED_REPLY", Option::StructuredReply, true},
    {State::OptSetMetaContext, "NEWSTYLE.OPT_SET_META_CONTEXT", Option::SetMetaContext, true},
    {State::OptGo, "NEWSTYLE.OPT_GO", Option::Go, true},
    {State::OptExportName, "NEWSTYLE.OPT_EXPORT_NAME", Option::ExportName, true},
    {State::OptInfo, "NEWSTYLE.OPT_INFO", Option::Info, true},
    {State::OptList, "NEWSTYLE.OPT_LIST", Option::List, true},
    {State::OptListMetaContext, "NEWSTYLE.OPT_LIST_META_CONTEXT", Option::ListMetaContext, true},
    {State::OptAbort, "NEWSTYLE.OPT_ABORT", Option::Abort, true},
    {State::Negotiating, "NEGOTIATING", kNoOption, false},
    {State::Ready, "READY", kNoOption, false},
    {State::Dead, "DEAD", kNoOption, false},
    {State::Closed, "CLOSED", kNoOption, false},
};
constexpr bool table_in_order() {
  for (size_t i = 0; i < std::size(kStates); ++i)
    if (size_t(kStates[i].state) != i) return false;
  return std::size(kStates) == size_t(State::Closed) + 1;
}
static_assert(table_in_order(), "kStates: one row per State, in declaration order");
}  // namespace

const char* state_name(State s) { return kStates[size_t(s)].name; }
uint32_t state_option(State s) { return uint32_t(kStates[size_t(s)].option); }
bool is_connecting(State s) { return kStates[size_t(s)].connecting; }

Handle::Impl::Impl() {
  name = "nbd" + std::to_string(++handle_counter);
  const char* d = getenv("LIBNBD_DEBUG");
  debug = d && strcmp(d, "1") == 0;
}

Handle::Impl::~Impl() {
  close_socket();
  reap_child();
}

Error Handle::Impl::failv(int err, const char* fmt, va_list ap) {
  char buf[1024];
  vsnprintf(buf, sizeof buf, fmt, ap);
  error = std::string(api) + ": " + buf;
  errnum = err;
  if (debug) debug_line(("error: " + std::string(buf)).c_str());
  return make_error(err, error);
}

Error Handle::Impl::fail(int err, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  Error e = failv(err, fmt, ap);
  va_end(ap);
  return e;
}

void Handle::Impl::debugf(const char* fmt, ...) {
  if (!debug) return;
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  debug_line(buf);
}

void Handle::Impl::debug_line(const char* msg) {
  if (debug_cb)
    (void)debug_cb(api, msg);
  else
    fprintf(stderr, "libnbd: debug: %s: %s: %s\n", name.c_str(), api, msg);
}

void Handle::Impl::set_state(State s) {
  if (s != state) debugf("transition: %s -> %s", client::state_name(state), client::state_name(s));
  state = s;
}

void Handle::Impl::set_dead(int err, const char* fmt, ...) {
  if (state == State::Dead) return;
  va_list ap;
  va_start(ap, fmt);
  failv(err, fmt, ap);
  va_end(ap);
  close_socket();
  set_state(State::Dead);
  fail_all(err);
  finish_async_option();
}

Status Handle::Impl::check_alive() const {
  if (state == State::Dead) return last_error();
  return ok();
}

// Settings and state queries: the lock, then one field. h is the handle's Impl.
#define NBD_LOCKED_GETTER(type, method, expr) \
  type Handle::method() const {               \
    NBD_HANDLE_LOCK;                          \
    const Impl& h = *impl_;                   \
    return expr;                              \
  }
#define NBD_LOCKED_SETTER(method, type, field) \
  void Handle::method(type v) {                \
    NBD_HANDLE_LOCK;                           \
    impl_->field = std::move(v);               \
  }

// ---- Handle: construction and errors ----
Handle::Handle() : impl_(std::make_unique<Impl>()) {}
Handle::~Handle() = default;

// A copy for this thread: another thread's failing call may replace the handle's own at any time.
const std::string& Handle::get_error() const {
  static thread_local std::string copy;
  NBD_HANDLE_LOCK;
  copy = impl_->error;
  return copy;
}
NBD_LOCKED_GETTER(int, get_errno, h.errnum)

std::string default_tls_username() {
  const char* u = getenv("LOGNAME");
  if (!u || !*u) u = getenv("USER");
  return u ? u : "";
}

// ---- settings ----
Status before_connect(Handle::Impl& h) {
  if (h.state != State::Created)
    return h.fail(EINVAL, "invalid state: %s: the handle must be newly created", state_name(h.state));
  return ok();
}
Status before_go(Handle::Impl& h) {
  if (h.state != State::Created && h.state != State::Negotiating)
    return h.fail(EINVAL, "invalid state: %s: the handle must be newly created or negotiating",
                  state_name(h.state));
  return ok();
}

NBD_LOCKED_SETTER(set_debug, bool, debug)
NBD_LOCKED_GETTER(bool, get_debug, h.debug)
NBD_LOCKED_SETTER(set_debug_callback, DebugCallback, debug_cb)
void Handle::clear_debug_callback() {
  NBD_HANDLE_LOCK;
  impl_->debug_cb = nullptr;
}
NBD_LOCKED_SETTER(set_handle_name, std::string, name)
NBD_LOCKED_GETTER(std::string, get_handle_name, h.name)

Status Handle::set_export_name(std::string name) {
  NBD_HANDLE_CALL("nbd_set_export_name");
  NBD_TRY(before_go(*impl_));
  if (name.size() > protocol::kMaxStringLength) return impl_->fail(ENAMETOOLONG, "export name too long");
  impl_->export_name = std::move(name);
  impl_->meta_valid = false;  // contexts are per export
  return ok();
}
NBD_LOCKED_GETTER(std::string, get_export_name, h.export_name)

Status Handle::set_tls(TlsMode mode) {
  NBD_HANDLE_CALL("nbd_set_tls");
  NBD_TRY(before_connect(*impl_));
  impl_->tls = mode;
  return ok();
}
NBD_LOCKED_GETTER(TlsMode, get_tls, h.tls)

#define NBD_SETTER(method, api_name, field, type) \
  Status Handle::method(type v) {                 \
    NBD_HANDLE_CALL(api_name);                    \
    NBD_TRY(before_connect(*impl_));              \
    impl_->field = std::move(v);                  \
    return ok();                                  \
  }
NBD_SETTER(set_tls_certificates, "nbd_set_tls_certificates", tls_certificates, std::string)
NBD_SETTER(set_tls_verify_peer, "nbd_set_tls_verify_peer", tls_verify_peer, bool)
NBD_SETTER(set_tls_username, "nbd_set_tls_username", tls_username, std::string)
NBD_SETTER(set_tls_psk_file, "nbd_set_tls_psk_file", tls_psk_file, std::string)
NBD_SETTER(set_tls_hostname, "nbd_set_tls_hostname", tls_hostname, std::string)
NBD_SETTER(set_request_structured_replies, "nbd_set_request_structured_replies", request_sr, bool)
NBD_SETTER(set_request_extended_headers, "nbd_set_request_extended_headers", request_ext, bool)
NBD_SETTER(set_handshake_flags, "nbd_set_handshake_flags", handshake_flags, uint32_t)
NBD_SETTER(set_opt_mode, "nbd_set_opt_mode", opt_mode, bool)
#undef NBD_SETTER

Status Handle::set_request_meta_context(bool on) {
  NBD_HANDLE_CALL("nbd_set_request_meta_context");
  NBD_TRY(before_go(*impl_));
  impl_->request_meta = on;
  return ok();
}
Status Handle::set_request_block_size(bool on) {
  NBD_HANDLE_CALL("nbd_set_request_block_size");
  NBD_TRY(before_go(*impl_));
  impl_->request_block_size = on;
  return ok();
}
Status Handle::set_full_info(bool on) {
  NBD_HANDLE_CALL("nbd_set_full_info");
  NBD_TRY(before_go(*impl_));
  impl_->full_info = on;
  return ok();
}
NBD_LOCKED_GETTER(bool, get_request_structured_replies, h.request_sr)
NBD_LOCKED_GETTER(bool, get_request_meta_context, h.request_meta)
NBD_LOCKED_GETTER(bool, get_request_block_size, h.request_block_size)
NBD_LOCKED_GETTER(bool, get_pread_initialize, h.pread_initialize)
NBD_LOCKED_GETTER(bool, get_tls_verify_peer, h.tls_verify_peer)
NBD_LOCKED_GETTER(std::string, get_tls_username,
                  h.tls_username.empty() ? default_tls_username() : h.tls_username)
NBD_LOCKED_GETTER(bool, get_request_extended_headers, h.request_ext)
NBD_LOCKED_GETTER(bool, get_full_info, h.full_info)
NBD_LOCKED_GETTER(uint32_t, get_handshake_flags, h.handshake_flags)
NBD_LOCKED_SETTER(set_strict_mode, uint32_t, strict)
NBD_LOCKED_GETTER(uint32_t, get_strict_mode, h.strict)
NBD_LOCKED_SETTER(set_pread_initialize, bool, pread_initialize)
NBD_LOCKED_SETTER(set_handshake_timeout, int, handshake_timeout_ms)
NBD_LOCKED_GETTER(bool, get_opt_mode, h.opt_mode)
NBD_LOCKED_SETTER(set_uri_allow_local_file, bool, uri_allow_local_file)
Status Handle::set_uri_allow_tls(TlsMode mode) {
  NBD_HANDLE_CALL("nbd_set_uri_allow_tls");
  impl_->uri_allow_tls = mode;
  return ok();
}
Status Handle::set_uri_allow_transports(uint32_t mask) {
  NBD_HANDLE_CALL("nbd_set_uri_allow_transports");
  if (mask & ~kAllowTransportAll) return impl_->fail(EINVAL, "mask: unknown transport bits 0x%x", mask);
  impl_->uri_allow_transports = mask;
  return ok();
}

Status Handle::kill_subprocess(int sig) {
  NBD_HANDLE_CALL("nbd_kill_subprocess");
  if (sig < 0) return impl_->fail(EINVAL, "signum: %d is not a signal", sig);
  if (!impl_->child)
    return impl_->fail(ESRCH, "no subprocess: the handle was not connected with connect_command");
  impl_->child->kill(sig ? sig : SIGTERM);
  return ok();
}

Status Handle::add_meta_context(std::string name) {
  NBD_HANDLE_CALL("nbd_add_meta_context");
  NBD_TRY(before_go(*impl_));
  if (name.empty() || name.size() > protocol::kMaxStringLength)
    return impl_->fail(EINVAL, "meta context name must be 1 to 4096 bytes");
  impl_->meta_requests.push_back(std::move(name));
  impl_->meta_valid = false;
  return ok();
}
NBD_LOCKED_GETTER(size_t, get_nr_meta_contexts, h.meta_requests.size())
Result<std::string> Handle::get_meta_context(size_t i) const {
  NBD_HANDLE_CALL("nbd_get_meta_context");
  if (i >= impl_->meta_requests.size()) return impl_->fail(EINVAL, "meta context request out of range");
  return impl_->meta_requests[i];
}
Status Handle::clear_meta_contexts() {
  NBD_HANDLE_CALL("nbd_clear_meta_contexts");
  NBD_TRY(before_go(*impl_));
  impl_->meta_requests.clear();
  impl_->meta_valid = false;
  return ok();
}

// ---- state queries ----
NBD_LOCKED_GETTER(bool, aio_is_created, h.state == State::Created)
NBD_LOCKED_GETTER(bool, aio_is_connecting, is_connecting(h.state))
NBD_LOCKED_GETTER(bool, aio_is_negotiating, h.state == State::Negotiating)
NBD_LOCKED_GETTER(bool, aio_is_ready, h.state == State::Ready)
NBD_LOCKED_GETTER(bool, aio_is_processing, h.state == State::Ready && h.in_flight > 0)
NBD_LOCKED_GETTER(bool, aio_is_dead, h.state == State::Dead)
NBD_LOCKED_GETTER(bool, aio_is_closed, h.state == State::Closed)
const char* Handle::state_name() const {
  NBD_HANDLE_LOCK;
  return client::state_name(impl_->state);
}

#undef NBD_LOCKED_GETTER
#undef NBD_LOCKED_SETTER

}  // namespace nbd::client
