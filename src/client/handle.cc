// SPDX-License-Identifier: BSD-3-Clause
// Handle construction, settings, errors, debug output and the export-info getters.
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "client/impl.h"

namespace nbd::client {

const char* version() { return "0.1.0"; }

namespace {
std::atomic<unsigned> handle_counter{0};
}  // namespace

const char* state_name(State s) {
  switch (s) {
    case State::Created: return "CREATED";
    case State::Connecting: return "CONNECTING";
    case State::Handshake: return "HANDSHAKE";
    case State::Option: return "NEGOTIATING.OPTION";
    case State::TlsHandshake: return "NEGOTIATING.TLS";
    case State::ExportName: return "NEGOTIATING.EXPORT_NAME";
    case State::Negotiating: return "NEGOTIATING";
    case State::Ready: return "READY";
    case State::Dead: return "DEAD";
    case State::Closed: return "CLOSED";
  }
  return "?";
}

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
  if (debug) fprintf(stderr, "libnbd: debug: %s: %s: error: %s\n", name.c_str(), api, buf);
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
  fprintf(stderr, "libnbd: debug: %s: %s: %s\n", name.c_str(), api, buf);
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
}

Status Handle::Impl::check_alive() const {
  if (state == State::Dead) return last_error();
  return ok();
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
int Handle::get_errno() const {
  NBD_HANDLE_LOCK;
  return impl_->errnum;
}

// ---- settings ----
Status before_connect(Handle::Impl& h, const char* api) {
  h.api = api;
  if (h.state != State::Created) return h.fail(EINVAL, "invalid state: %s: the handle must be newly created", state_name(h.state));
  return ok();
}
Status before_go(Handle::Impl& h, const char* api) {
  h.api = api;
  if (h.state != State::Created && h.state != State::Negotiating)
    return h.fail(EINVAL, "invalid state: %s: the handle must be newly created or negotiating", state_name(h.state));
  return ok();
}

void Handle::set_debug(bool on) {
  NBD_HANDLE_LOCK;
  impl_->debug = on;
}
bool Handle::get_debug() const {
  NBD_HANDLE_LOCK;
  return impl_->debug;
}
void Handle::set_handle_name(std::string name) {
  NBD_HANDLE_LOCK;
  impl_->name = std::move(name);
}
std::string Handle::get_handle_name() const {
  NBD_HANDLE_LOCK;
  return impl_->name;
}

Status Handle::set_export_name(std::string name) {
  NBD_HANDLE_LOCK;
  NBD_TRY(before_go(*impl_, "nbd_set_export_name"));
  if (name.size() > protocol::kMaxStringLength) return impl_->fail(ENAMETOOLONG, "export name too long");
  impl_->export_name = std::move(name);
  impl_->meta_done = false;  // contexts are per export
  return ok();
}
std::string Handle::get_export_name() const {
  NBD_HANDLE_LOCK;
  return impl_->export_name;
}

Status Handle::set_tls(TlsMode mode) {
  NBD_HANDLE_LOCK;
  NBD_TRY(before_connect(*impl_, "nbd_set_tls"));
  impl_->tls = mode;
  return ok();
}
TlsMode Handle::get_tls() const {
  NBD_HANDLE_LOCK;
  return impl_->tls;
}

#define NBD_SETTER(method, api_name, field, type) \
  Status Handle::method(type v) {                 \
    NBD_HANDLE_LOCK;                              \
    NBD_TRY(before_connect(*impl_, api_name));    \
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
  NBD_HANDLE_LOCK;
  NBD_TRY(before_go(*impl_, "nbd_set_request_meta_context"));
  impl_->request_meta = on;
  return ok();
}
Status Handle::set_request_block_size(bool on) {
  NBD_HANDLE_LOCK;
  NBD_TRY(before_go(*impl_, "nbd_set_request_block_size"));
  impl_->request_block_size = on;
  return ok();
}
Status Handle::set_full_info(bool on) {
  NBD_HANDLE_LOCK;
  NBD_TRY(before_go(*impl_, "nbd_set_full_info"));
  impl_->full_info = on;
  return ok();
}
bool Handle::get_request_structured_replies() const {
  NBD_HANDLE_LOCK;
  return impl_->request_sr;
}
bool Handle::get_request_extended_headers() const {
  NBD_HANDLE_LOCK;
  return impl_->request_ext;
}
bool Handle::get_full_info() const {
  NBD_HANDLE_LOCK;
  return impl_->full_info;
}
uint32_t Handle::get_handshake_flags() const {
  NBD_HANDLE_LOCK;
  return impl_->handshake_flags;
}
void Handle::set_strict_mode(uint32_t flags) {
  NBD_HANDLE_LOCK;
  impl_->strict = flags;
}
uint32_t Handle::get_strict_mode() const {
  NBD_HANDLE_LOCK;
  return impl_->strict;
}
void Handle::set_pread_initialize(bool on) {
  NBD_HANDLE_LOCK;
  impl_->pread_initialize = on;
}
bool Handle::get_opt_mode() const {
  NBD_HANDLE_LOCK;
  return impl_->opt_mode;
}
void Handle::set_uri_allow_local_file(bool on) {
  NBD_HANDLE_LOCK;
  impl_->uri_allow_local_file = on;
}

Status Handle::add_meta_context(std::string name) {
  NBD_HANDLE_LOCK;
  NBD_TRY(before_go(*impl_, "nbd_add_meta_context"));
  if (name.empty() || name.size() > protocol::kMaxStringLength)
    return impl_->fail(EINVAL, "meta context name must be 1 to 4096 bytes");
  impl_->meta_requests.push_back(std::move(name));
  impl_->meta_done = false;
  return ok();
}
size_t Handle::get_nr_meta_contexts() const {
  NBD_HANDLE_LOCK;
  return impl_->meta_requests.size();
}
Result<std::string> Handle::get_meta_context(size_t i) const {
  NBD_HANDLE_LOCK;
  impl_->api = "nbd_get_meta_context";
  if (i >= impl_->meta_requests.size()) return impl_->fail(EINVAL, "meta context request out of range");
  return impl_->meta_requests[i];
}
Status Handle::clear_meta_contexts() {
  NBD_HANDLE_LOCK;
  NBD_TRY(before_go(*impl_, "nbd_clear_meta_contexts"));
  impl_->meta_requests.clear();
  impl_->meta_done = false;
  return ok();
}

// ---- state queries ----
bool Handle::aio_is_created() const {
  NBD_HANDLE_LOCK;
  return impl_->state == State::Created;
}
bool Handle::aio_is_connecting() const {
  NBD_HANDLE_LOCK;
  State s = impl_->state;
  return s == State::Connecting || s == State::Handshake || s == State::Option ||
         s == State::TlsHandshake || s == State::ExportName;
}
bool Handle::aio_is_negotiating() const {
  NBD_HANDLE_LOCK;
  return impl_->state == State::Negotiating;
}
bool Handle::aio_is_ready() const {
  NBD_HANDLE_LOCK;
  return impl_->state == State::Ready;
}
bool Handle::aio_is_processing() const {
  NBD_HANDLE_LOCK;
  return impl_->state == State::Ready && impl_->in_flight > 0;
}
bool Handle::aio_is_dead() const {
  NBD_HANDLE_LOCK;
  return impl_->state == State::Dead;
}
bool Handle::aio_is_closed() const {
  NBD_HANDLE_LOCK;
  return impl_->state == State::Closed;
}
const char* Handle::state_name() const {
  NBD_HANDLE_LOCK;
  return client::state_name(impl_->state);
}

}  // namespace nbd::client
