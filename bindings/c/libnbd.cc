// SPDX-License-Identifier: BSD-3-Clause
// libnbd.so.0: libnbd's C API (bindings/c/libnbd.h) over nbd::client::Handle. Each call maps
// onto one Handle method; what is C's own lives here: the per-thread last error, strings the
// caller frees, private data, and the callbacks' free functions, called exactly once when the
// library is done with a callback (after the command retires, when the call taking it fails,
// or at nbd_close for commands still in flight).
#include "libnbd.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "nbd/client.h"

using nbd::Error;
using nbd::Status;
using nbd::client::Handle;

namespace {

thread_local std::string t_error;
thread_local int t_errno = 0;
thread_local bool t_has_error = false;

void set_error(const Error& e) {
  t_error = e.message;
  t_errno = e.errnum;
  t_has_error = true;
}
void set_error(int err, const char* msg) { set_error(nbd::make_error(err, msg)); }

}  // namespace

namespace nbd::capi {

struct CHandleState;

// The callbacks of one aio command (or aio option) that need the library to call a free
// function, or a mid-command callback: kept on the handle's list until released.
struct Callbacks {
  nbd_completion_callback completion{};
  nbd_chunk_callback chunk{};
  nbd_extent_callback extent{};
  nbd_extent64_callback extent64{};
  nbd_list_callback list{};
  nbd_context_callback context{};
  Callbacks *prev = nullptr, *next = nullptr;
  CHandleState* owner = nullptr;
};

// libnbd's order: the mid-command free, then the completion's.
void free_callbacks(const Callbacks& c) {
  if (c.chunk.free) c.chunk.free(c.chunk.user_data);
  if (c.extent.free) c.extent.free(c.extent.user_data);
  if (c.extent64.free) c.extent64.free(c.extent64.user_data);
  if (c.list.free) c.list.free(c.list.user_data);
  if (c.context.free) c.context.free(c.context.user_data);
  if (c.completion.free) c.completion.free(c.completion.user_data);
}

// What the C API keeps beside the Handle. A base of nbd_handle, so it is destroyed after the
// Handle: the callbacks of commands still in flight at nbd_close are freed once the Handle
// (and with it the socket and any server it started) is gone, and can no longer call them.
struct CHandleState {
  uintptr_t private_data = 0;
  nbd_debug_callback debug{};
  std::mutex lock;  // the list below
  Callbacks* pending = nullptr;

  ~CHandleState() {
    while (pending) release(pending);
    if (debug.free) debug.free(debug.user_data);
  }
  Callbacks* hold(const Callbacks& c) {
    auto* r = new Callbacks(c);
    r->owner = this;
    std::lock_guard<std::mutex> g(lock);
    r->next = pending;
    if (pending) pending->prev = r;
    pending = r;
    return r;
  }
  // Unlinks r, calls its free functions, deletes it.
  void release(Callbacks* r) {
    {
      std::lock_guard<std::mutex> g(lock);
      if (r->prev)
        r->prev->next = r->next;
      else
        pending = r->next;
      if (r->next) r->next->prev = r->prev;
    }
    free_callbacks(*r);
    delete r;
  }
};

}  // namespace nbd::capi

using nbd::capi::Callbacks;
using nbd::capi::free_callbacks;

struct nbd_handle : nbd::capi::CHandleState {
  Handle h;
};

namespace {

// Completion callbacks as our client takes them: the C function alone when there is nothing
// to free (kept in the command, no allocation), else a held record released once it has run.
nbd::client::CompletionCallback completion_only(const nbd_completion_callback& cb) {
  if (!cb.callback) return {};
  auto fn = cb.callback;
  void* ud = cb.user_data;
  return [fn, ud](int* err) { return fn(ud, err); };
}
nbd::client::CompletionCallback completion_of(Callbacks* r) {
  return [r](int* err) {
    int ret = r->completion.callback ? r->completion.callback(r->completion.user_data, err) : 0;
    r->owner->release(r);
    return ret;
  };
}

int status(const Status& s) {
  if (s) return 0;
  set_error(s.error());
  return -1;
}
template <class T>
int boolean(const nbd::Result<T>& r) {
  if (!r) return set_error(r.error()), -1;
  return *r ? 1 : 0;
}
char* dup(const std::string& s) {
  char* p = strdup(s.c_str());
  if (!p) set_error(ENOMEM, "strdup: out of memory");
  return p;
}
char* dup(const nbd::Result<std::string>& r) {
  if (!r) return set_error(r.error()), nullptr;
  return dup(*r);
}
int64_t cookie(const nbd::Result<nbd::client::Cookie>& r) {
  if (!r) return set_error(r.error()), -1;
  return int64_t(*r);
}
std::vector<std::string> argv_of(char** argv) {
  std::vector<std::string> v;
  for (; argv && *argv; ++argv) v.emplace_back(*argv);
  return v;
}
int einval(const char* msg) {
  set_error(EINVAL, msg);
  return -1;
}

// libnbd sends a command as it is issued, as far as the socket takes it without blocking;
// callers rely on that (nbdkit's nbd plugin issues NBD_CMD_DISC and then only waits for the
// server to hang up). Our client queues until it is driven, so the C calls drive it once.
void send_now(nbd_handle* h) {
  if (h->h.aio_get_direction() & LIBNBD_AIO_DIRECTION_WRITE) (void)h->h.aio_notify_write();
}

// An aio command: submit(done) queues it. The callbacks go into a held record when the
// library must call a free function or a mid-command callback (which runs before the
// completion's free); a bare completion function is kept in the command itself. When the
// command cannot be queued, its callbacks are freed here.
template <class Submit>
int64_t aio(nbd_handle* h, const Callbacks& c, Submit submit) {
  bool record = c.completion.free || c.chunk.callback || c.extent.callback || c.extent64.callback;
  if (!record) {
    auto res = submit(completion_only(c.completion));
    if (res) send_now(h);
    return cookie(res);
  }
  Callbacks* r = h->hold(c);
  auto res = submit(completion_of(r));
  if (!res)
    h->release(r);
  else
    send_now(h);
  return cookie(res);
}

nbd::client::ChunkCallback chunk_fn(const nbd_chunk_callback& cb) {
  return [cb](std::span<const std::byte> b, uint64_t off, unsigned st, int* err) {
    return cb.callback(cb.user_data, b.data(), b.size(), off, st, err);
  };
}
nbd::client::Extent32Callback extent_fn(const nbd_extent_callback& cb) {
  return [cb](std::string_view ctx, uint64_t off, std::span<const uint32_t> e, int* err) {
    std::string name(ctx);
    return cb.callback(cb.user_data, name.c_str(), off, const_cast<uint32_t*>(e.data()), e.size(), err);
  };
}
nbd::client::ExtentCallback extent64_fn(const nbd_extent64_callback& cb) {
  return [cb](std::string_view ctx, uint64_t off, std::span<const nbd::Extent> e, int* err) {
    std::string name(ctx);
    std::vector<nbd_extent> v(e.size());
    for (size_t i = 0; i < e.size(); ++i) v[i] = {e[i].length, e[i].flags};
    return cb.callback(cb.user_data, name.c_str(), off, v.data(), v.size(), err);
  };
}
nbd::client::ListCallback list_fn(const nbd_list_callback& cb) {
  return [cb](std::string_view name, std::string_view desc) {
    std::string n(name), d(desc);
    return cb.callback ? cb.callback(cb.user_data, n.c_str(), d.c_str()) : 0;
  };
}
nbd::client::ContextCallback context_fn(const nbd_context_callback& cb) {
  return [cb](std::string_view name) {
    std::string n(name);
    return cb.callback ? cb.callback(cb.user_data, n.c_str()) : 0;
  };
}
// A blocking call taking a callback: its free function runs once the call returns.
template <class Cb>
void done_with(const Cb& cb) {
  if (cb.free) cb.free(cb.user_data);
}

// The aio options: their callbacks are held until the option ends.
template <class Start>
int aio_option(nbd_handle* h, const Callbacks& c, Start start) {
  Callbacks* r = h->hold(c);
  Status s = start(completion_of(r));
  if (!s) h->release(r);
  return status(s);
}

// A blocking opt call that counts what its callback saw: the count, or -1; the callback freed.
template <class Cb>
int counted(const nbd::Result<int>& r, const Cb& cb) {
  done_with(cb);
  if (!r) return set_error(r.error()), -1;
  return *r;
}

std::span<std::byte> bytes(void* buf, size_t n) { return {static_cast<std::byte*>(buf), n}; }
std::span<const std::byte> bytes(const void* buf, size_t n) {
  return {static_cast<const std::byte*>(buf), n};
}

}  // namespace

extern "C" {

// ---- handles and errors ----
nbd_handle* nbd_create(void) {
  try {
    return new nbd_handle;
  } catch (const std::bad_alloc&) {
    set_error(ENOMEM, "nbd_create: out of memory");
    return nullptr;
  }
}

// The Handle goes first (closing the socket, reaping any subprocess: callbacks of commands
// in flight never run), then the free functions of every callback still held.
void nbd_close(nbd_handle* h) { delete h; }

const char* nbd_get_error(void) { return t_has_error ? t_error.c_str() : nullptr; }
int nbd_get_errno(void) { return t_errno; }

// ---- settings ----
int nbd_set_debug(nbd_handle* h, bool debug) {
  h->h.set_debug(debug);
  return 0;
}
int nbd_get_debug(nbd_handle* h) { return h->h.get_debug(); }

int nbd_set_debug_callback(nbd_handle* h, nbd_debug_callback cb) {
  if (h->debug.free) h->debug.free(h->debug.user_data);
  h->debug = cb;
  if (!cb.callback) {
    h->h.clear_debug_callback();
    return 0;
  }
  h->h.set_debug_callback(
      [cb](const char* ctx, const char* msg) { return cb.callback(cb.user_data, ctx, msg); });
  return 0;
}
int nbd_clear_debug_callback(nbd_handle* h) {
  h->h.clear_debug_callback();
  if (h->debug.free) h->debug.free(h->debug.user_data);
  h->debug = {};
  return 0;
}

int nbd_set_handle_name(nbd_handle* h, const char* name) {
  if (!name) return einval("nbd_set_handle_name: handle_name: NULL");
  h->h.set_handle_name(name);
  return 0;
}
char* nbd_get_handle_name(nbd_handle* h) { return dup(h->h.get_handle_name()); }
uintptr_t nbd_set_private_data(nbd_handle* h, uintptr_t data) {
  uintptr_t old = h->private_data;
  h->private_data = data;
  return old;
}
uintptr_t nbd_get_private_data(nbd_handle* h) { return h->private_data; }

int nbd_set_export_name(nbd_handle* h, const char* name) {
  if (!name) return einval("nbd_set_export_name: export_name: NULL");
  return status(h->h.set_export_name(name));
}
char* nbd_get_export_name(nbd_handle* h) { return dup(h->h.get_export_name()); }
int nbd_set_request_block_size(nbd_handle* h, bool on) { return status(h->h.set_request_block_size(on)); }
int nbd_get_request_block_size(nbd_handle* h) { return h->h.get_request_block_size(); }
int nbd_set_full_info(nbd_handle* h, bool on) { return status(h->h.set_full_info(on)); }
int nbd_get_full_info(nbd_handle* h) { return h->h.get_full_info(); }

int nbd_set_tls(nbd_handle* h, int tls) {
  if (tls < LIBNBD_TLS_DISABLE || tls > LIBNBD_TLS_REQUIRE) return einval("nbd_set_tls: tls: invalid value");
  return status(h->h.set_tls(nbd::client::TlsMode(tls)));
}
int nbd_get_tls(nbd_handle* h) { return int(h->h.get_tls()); }
int nbd_set_tls_certificates(nbd_handle* h, const char* dir) {
  if (!dir) return einval("nbd_set_tls_certificates: dir: NULL");
  return status(h->h.set_tls_certificates(dir));
}
int nbd_set_tls_verify_peer(nbd_handle* h, bool v) { return status(h->h.set_tls_verify_peer(v)); }
int nbd_get_tls_verify_peer(nbd_handle* h) { return h->h.get_tls_verify_peer(); }
int nbd_set_tls_username(nbd_handle* h, const char* user) {
  if (!user) return einval("nbd_set_tls_username: username: NULL");
  return status(h->h.set_tls_username(user));
}
char* nbd_get_tls_username(nbd_handle* h) { return dup(h->h.get_tls_username()); }
int nbd_set_tls_psk_file(nbd_handle* h, const char* file) {
  if (!file) return einval("nbd_set_tls_psk_file: filename: NULL");
  return status(h->h.set_tls_psk_file(file));
}
int nbd_set_tls_hostname(nbd_handle* h, const char* host) {
  if (!host) return einval("nbd_set_tls_hostname: hostname: NULL");
  return status(h->h.set_tls_hostname(host));
}
int nbd_set_request_structured_replies(nbd_handle* h, bool on) {
  return status(h->h.set_request_structured_replies(on));
}
int nbd_get_request_structured_replies(nbd_handle* h) { return h->h.get_request_structured_replies(); }
int nbd_set_request_extended_headers(nbd_handle* h, bool on) {
  return status(h->h.set_request_extended_headers(on));
}
int nbd_get_request_extended_headers(nbd_handle* h) { return h->h.get_request_extended_headers(); }
int nbd_set_request_meta_context(nbd_handle* h, bool on) { return status(h->h.set_request_meta_context(on)); }
int nbd_get_request_meta_context(nbd_handle* h) { return h->h.get_request_meta_context(); }
int nbd_set_handshake_flags(nbd_handle* h, uint32_t flags) {
  if (flags & ~LIBNBD_HANDSHAKE_FLAG_MASK) return einval("nbd_set_handshake_flags: flags: unknown bits");
  return status(h->h.set_handshake_flags(flags));
}
uint32_t nbd_get_handshake_flags(nbd_handle* h) { return h->h.get_handshake_flags(); }
int nbd_set_pread_initialize(nbd_handle* h, bool on) {
  h->h.set_pread_initialize(on);
  return 0;
}
int nbd_get_pread_initialize(nbd_handle* h) { return h->h.get_pread_initialize(); }
int nbd_set_strict_mode(nbd_handle* h, uint32_t flags) {
  if (flags & ~LIBNBD_STRICT_MASK) return einval("nbd_set_strict_mode: flags: unknown bits");
  h->h.set_strict_mode(flags);
  return 0;
}
uint32_t nbd_get_strict_mode(nbd_handle* h) { return h->h.get_strict_mode(); }
int nbd_set_opt_mode(nbd_handle* h, bool on) { return status(h->h.set_opt_mode(on)); }
int nbd_get_opt_mode(nbd_handle* h) { return h->h.get_opt_mode(); }
int nbd_add_meta_context(nbd_handle* h, const char* name) {
  if (!name) return einval("nbd_add_meta_context: name: NULL");
  return status(h->h.add_meta_context(name));
}
ssize_t nbd_get_nr_meta_contexts(nbd_handle* h) { return ssize_t(h->h.get_nr_meta_contexts()); }
char* nbd_get_meta_context(nbd_handle* h, size_t i) { return dup(h->h.get_meta_context(i)); }
int nbd_clear_meta_contexts(nbd_handle* h) { return status(h->h.clear_meta_contexts()); }
int nbd_set_uri_allow_transports(nbd_handle* h, uint32_t mask) {
  return status(h->h.set_uri_allow_transports(mask));
}
int nbd_set_uri_allow_tls(nbd_handle* h, int tls) {
  if (tls < LIBNBD_TLS_DISABLE || tls > LIBNBD_TLS_REQUIRE)
    return einval("nbd_set_uri_allow_tls: tls: invalid value");
  return status(h->h.set_uri_allow_tls(nbd::client::TlsMode(tls)));
}
int nbd_set_uri_allow_local_file(nbd_handle* h, bool allow) {
  h->h.set_uri_allow_local_file(allow);
  return 0;
}

// ---- connecting ----
#define NBD_STRING_ARG(fn, arg) \
  if (!(arg)) return einval(#fn ": " #arg ": NULL");
int nbd_connect_uri(nbd_handle* h, const char* uri) {
  NBD_STRING_ARG(nbd_connect_uri, uri);
  return status(h->h.connect_uri(uri));
}
int nbd_connect_unix(nbd_handle* h, const char* path) {
  NBD_STRING_ARG(nbd_connect_unix, path);
  return status(h->h.connect_unix(path));
}
int nbd_connect_vsock(nbd_handle* h, uint32_t cid, uint32_t port) {
  return status(h->h.connect_vsock(cid, port));
}
int nbd_connect_tcp(nbd_handle* h, const char* host, const char* port) {
  NBD_STRING_ARG(nbd_connect_tcp, host);
  NBD_STRING_ARG(nbd_connect_tcp, port);
  return status(h->h.connect_tcp(host, port));
}
int nbd_connect_socket(nbd_handle* h, int sock) { return status(h->h.connect_socket(sock)); }
int nbd_connect_command(nbd_handle* h, char** argv) {
  if (!argv || !argv[0]) return einval("nbd_connect_command: argv: empty");
  return status(h->h.connect_command(argv_of(argv)));
}
int nbd_connect_systemd_socket_activation(nbd_handle* h, char** argv) {
  if (!argv || !argv[0]) return einval("nbd_connect_systemd_socket_activation: argv: empty");
  return status(h->h.connect_systemd_socket_activation(argv_of(argv)));
}
int nbd_aio_connect(nbd_handle* h, const struct sockaddr* addr, socklen_t len) {
  return status(h->h.aio_connect(addr, len));
}
int nbd_aio_connect_uri(nbd_handle* h, const char* uri) {
  NBD_STRING_ARG(nbd_aio_connect_uri, uri);
  return status(h->h.aio_connect_uri(uri));
}
int nbd_aio_connect_unix(nbd_handle* h, const char* path) {
  NBD_STRING_ARG(nbd_aio_connect_unix, path);
  return status(h->h.aio_connect_unix(path));
}
int nbd_aio_connect_vsock(nbd_handle* h, uint32_t cid, uint32_t port) {
  return status(h->h.aio_connect_vsock(cid, port));
}
int nbd_aio_connect_tcp(nbd_handle* h, const char* host, const char* port) {
  NBD_STRING_ARG(nbd_aio_connect_tcp, host);
  NBD_STRING_ARG(nbd_aio_connect_tcp, port);
  return status(h->h.aio_connect_tcp(host, port));
}
int nbd_aio_connect_socket(nbd_handle* h, int sock) { return status(h->h.aio_connect_socket(sock)); }
int nbd_aio_connect_command(nbd_handle* h, char** argv) {
  if (!argv || !argv[0]) return einval("nbd_aio_connect_command: argv: empty");
  return status(h->h.aio_connect_command(argv_of(argv)));
}
int nbd_aio_connect_systemd_socket_activation(nbd_handle* h, char** argv) {
  if (!argv || !argv[0]) return einval("nbd_aio_connect_systemd_socket_activation: argv: empty");
  return status(h->h.aio_connect_systemd_socket_activation(argv_of(argv)));
}
#undef NBD_STRING_ARG
int nbd_kill_subprocess(nbd_handle* h, int sig) { return status(h->h.kill_subprocess(sig)); }
int nbd_supports_tls(nbd_handle*) { return 1; }  // gnutls is loaded when TLS is first used
int nbd_supports_uri(nbd_handle*) { return 1; }
char* nbd_get_uri(nbd_handle* h) { return dup(h->h.get_uri()); }

// ---- option negotiation ----
int nbd_opt_go(nbd_handle* h) { return status(h->h.opt_go()); }
int nbd_opt_abort(nbd_handle* h) { return status(h->h.opt_abort()); }
int nbd_opt_starttls(nbd_handle* h) { return boolean(h->h.opt_starttls()); }
int nbd_opt_extended_headers(nbd_handle* h) { return boolean(h->h.opt_extended_headers()); }
int nbd_opt_structured_reply(nbd_handle* h) { return boolean(h->h.opt_structured_reply()); }
int nbd_opt_info(nbd_handle* h) { return status(h->h.opt_info()); }
int nbd_opt_list(nbd_handle* h, nbd_list_callback cb) { return counted(h->h.opt_list(list_fn(cb)), cb); }
int nbd_opt_list_meta_context(nbd_handle* h, nbd_context_callback cb) {
  return counted(h->h.opt_list_meta_context(context_fn(cb)), cb);
}
int nbd_opt_set_meta_context(nbd_handle* h, nbd_context_callback cb) {
  return counted(h->h.opt_set_meta_context(context_fn(cb)), cb);
}

int nbd_aio_opt_go(nbd_handle* h, nbd_completion_callback done) {
  Callbacks c;
  c.completion = done;
  return aio_option(h, c, [h](auto d) { return h->h.aio_opt_go(std::move(d)); });
}
int nbd_aio_opt_info(nbd_handle* h, nbd_completion_callback done) {
  Callbacks c;
  c.completion = done;
  return aio_option(h, c, [h](auto d) { return h->h.aio_opt_info(std::move(d)); });
}
int nbd_aio_opt_abort(nbd_handle* h) { return status(h->h.aio_opt_abort()); }
int nbd_aio_opt_list(nbd_handle* h, nbd_list_callback list, nbd_completion_callback done) {
  Callbacks c;
  c.completion = done;
  c.list = list;
  return aio_option(h, c, [h, list](auto d) { return h->h.aio_opt_list(list_fn(list), std::move(d)); });
}
int nbd_aio_opt_list_meta_context(nbd_handle* h, nbd_context_callback ctx, nbd_completion_callback done) {
  Callbacks c;
  c.completion = done;
  c.context = ctx;
  return aio_option(
      h, c, [h, ctx](auto d) { return h->h.aio_opt_list_meta_context(context_fn(ctx), std::move(d)); });
}

// ---- the export ----
int64_t nbd_get_size(nbd_handle* h) {
  auto r = h->h.get_size();
  if (!r) return set_error(r.error()), -1;
  return *r;
}
int64_t nbd_get_block_size(nbd_handle* h, int which) {
  if (which < LIBNBD_SIZE_MINIMUM || which > LIBNBD_SIZE_PAYLOAD)
    return einval("nbd_get_block_size: size_type: invalid value");
  auto r = h->h.get_block_size(nbd::client::BlockSizeKind(which));
  if (!r) return set_error(r.error()), -1;
  return *r;
}
char* nbd_get_canonical_export_name(nbd_handle* h) { return dup(h->h.get_canonical_export_name()); }
char* nbd_get_export_description(nbd_handle* h) { return dup(h->h.get_export_description()); }
int nbd_is_read_only(nbd_handle* h) { return boolean(h->h.is_read_only()); }
int nbd_can_flush(nbd_handle* h) { return boolean(h->h.can_flush()); }
int nbd_can_fua(nbd_handle* h) { return boolean(h->h.can_fua()); }
int nbd_is_rotational(nbd_handle* h) { return boolean(h->h.is_rotational()); }
int nbd_can_trim(nbd_handle* h) { return boolean(h->h.can_trim()); }
int nbd_can_zero(nbd_handle* h) { return boolean(h->h.can_zero()); }
int nbd_can_fast_zero(nbd_handle* h) { return boolean(h->h.can_fast_zero()); }
int nbd_can_df(nbd_handle* h) { return boolean(h->h.can_df()); }
int nbd_can_multi_conn(nbd_handle* h) { return boolean(h->h.can_multi_conn()); }
int nbd_can_cache(nbd_handle* h) { return boolean(h->h.can_cache()); }
int nbd_can_meta_context(nbd_handle* h, const char* name) {
  if (!name) return einval("nbd_can_meta_context: metacontext: NULL");
  return boolean(h->h.can_meta_context(name));
}
const char* nbd_get_protocol(nbd_handle* h) {
  auto r = h->h.get_protocol();
  if (!r) return set_error(r.error()), nullptr;
  for (const char* p : {"newstyle-fixed", "newstyle", "oldstyle"})
    if (*r == p) return p;  // a string that outlives the handle, as libnbd's
  return "unknown";
}
int nbd_get_tls_negotiated(nbd_handle* h) { return boolean(h->h.get_tls_negotiated()); }
int nbd_get_structured_replies_negotiated(nbd_handle* h) {
  return boolean(h->h.get_structured_replies_negotiated());
}
int nbd_get_extended_headers_negotiated(nbd_handle* h) {
  return boolean(h->h.get_extended_headers_negotiated());
}

// ---- blocking commands ----
int nbd_pread(nbd_handle* h, void* buf, size_t count, uint64_t offset, uint32_t flags) {
  return status(h->h.pread(bytes(buf, count), offset, flags));
}
int nbd_pread_structured(nbd_handle* h, void* buf, size_t count, uint64_t offset, nbd_chunk_callback cb,
                         uint32_t flags) {
  if (!cb.callback) {
    done_with(cb);
    return einval("nbd_pread_structured: chunk_callback: NULL");
  }
  Status s = h->h.pread_structured(bytes(buf, count), offset, chunk_fn(cb), flags);
  done_with(cb);
  return status(s);
}
int nbd_pwrite(nbd_handle* h, const void* buf, size_t count, uint64_t offset, uint32_t flags) {
  return status(h->h.pwrite(bytes(buf, count), offset, flags));
}
int nbd_shutdown(nbd_handle* h, uint32_t flags) {
  if (flags & ~LIBNBD_SHUTDOWN_MASK) return einval("nbd_shutdown: flags: unknown bits");
  return status(h->h.shutdown(flags));
}
int nbd_flush(nbd_handle* h, uint32_t flags) { return status(h->h.flush(flags)); }
int nbd_trim(nbd_handle* h, uint64_t count, uint64_t offset, uint32_t flags) {
  return status(h->h.trim(count, offset, flags));
}
int nbd_cache(nbd_handle* h, uint64_t count, uint64_t offset, uint32_t flags) {
  return status(h->h.cache(count, offset, flags));
}
int nbd_zero(nbd_handle* h, uint64_t count, uint64_t offset, uint32_t flags) {
  return status(h->h.zero(count, offset, flags));
}
int nbd_block_status(nbd_handle* h, uint64_t count, uint64_t offset, nbd_extent_callback cb, uint32_t flags) {
  if (!cb.callback) {
    done_with(cb);
    return einval("nbd_block_status: extent_callback: NULL");
  }
  Status s = h->h.block_status(count, offset, extent_fn(cb), flags);
  done_with(cb);
  return status(s);
}
int nbd_block_status_64(nbd_handle* h, uint64_t count, uint64_t offset, nbd_extent64_callback cb,
                        uint32_t flags) {
  if (!cb.callback) {
    done_with(cb);
    return einval("nbd_block_status_64: extent64_callback: NULL");
  }
  Status s = h->h.block_status_64(count, offset, extent64_fn(cb), flags);
  done_with(cb);
  return status(s);
}

// ---- asynchronous commands ----
int64_t nbd_aio_pread(nbd_handle* h, void* buf, size_t count, uint64_t offset, nbd_completion_callback done,
                      uint32_t flags) {
  Callbacks c;
  c.completion = done;
  return aio(h, c, [&](auto d) { return h->h.aio_pread(bytes(buf, count), offset, std::move(d), flags); });
}
int64_t nbd_aio_pread_structured(nbd_handle* h, void* buf, size_t count, uint64_t offset,
                                 nbd_chunk_callback chunk, nbd_completion_callback done, uint32_t flags) {
  Callbacks c;
  c.completion = done;
  c.chunk = chunk;
  if (!chunk.callback) {
    free_callbacks(c);
    return einval("nbd_aio_pread_structured: chunk_callback: NULL");
  }
  return aio(h, c, [&](auto d) {
    return h->h.aio_pread_structured(bytes(buf, count), offset, chunk_fn(chunk), std::move(d), flags);
  });
}
int64_t nbd_aio_pwrite(nbd_handle* h, const void* buf, size_t count, uint64_t offset,
                       nbd_completion_callback done, uint32_t flags) {
  Callbacks c;
  c.completion = done;
  return aio(h, c, [&](auto d) { return h->h.aio_pwrite(bytes(buf, count), offset, std::move(d), flags); });
}
int nbd_aio_disconnect(nbd_handle* h, uint32_t flags) {
  if (flags) return einval("nbd_aio_disconnect: flags: must be 0");
  Status s = h->h.aio_disconnect(flags);
  if (s) send_now(h);
  return status(s);
}
int64_t nbd_aio_flush(nbd_handle* h, nbd_completion_callback done, uint32_t flags) {
  Callbacks c;
  c.completion = done;
  return aio(h, c, [&](auto d) { return h->h.aio_flush(std::move(d), flags); });
}
int64_t nbd_aio_trim(nbd_handle* h, uint64_t count, uint64_t offset, nbd_completion_callback done,
                     uint32_t flags) {
  Callbacks c;
  c.completion = done;
  return aio(h, c, [&](auto d) { return h->h.aio_trim(count, offset, std::move(d), flags); });
}
int64_t nbd_aio_cache(nbd_handle* h, uint64_t count, uint64_t offset, nbd_completion_callback done,
                      uint32_t flags) {
  Callbacks c;
  c.completion = done;
  return aio(h, c, [&](auto d) { return h->h.aio_cache(count, offset, std::move(d), flags); });
}
int64_t nbd_aio_zero(nbd_handle* h, uint64_t count, uint64_t offset, nbd_completion_callback done,
                     uint32_t flags) {
  Callbacks c;
  c.completion = done;
  return aio(h, c, [&](auto d) { return h->h.aio_zero(count, offset, std::move(d), flags); });
}
int64_t nbd_aio_block_status(nbd_handle* h, uint64_t count, uint64_t offset, nbd_extent_callback extent,
                             nbd_completion_callback done, uint32_t flags) {
  Callbacks c;
  c.completion = done;
  c.extent = extent;
  if (!extent.callback) {
    free_callbacks(c);
    return einval("nbd_aio_block_status: extent_callback: NULL");
  }
  return aio(h, c, [&](auto d) {
    return h->h.aio_block_status(count, offset, extent_fn(extent), std::move(d), flags);
  });
}
int64_t nbd_aio_block_status_64(nbd_handle* h, uint64_t count, uint64_t offset, nbd_extent64_callback extent,
                                nbd_completion_callback done, uint32_t flags) {
  Callbacks c;
  c.completion = done;
  c.extent64 = extent;
  if (!extent.callback) {
    free_callbacks(c);
    return einval("nbd_aio_block_status_64: extent64_callback: NULL");
  }
  return aio(h, c, [&](auto d) {
    return h->h.aio_block_status_64(count, offset, extent64_fn(extent), std::move(d), flags);
  });
}

// ---- driving the state machine ----
int nbd_poll(nbd_handle* h, int timeout) {
  auto r = h->h.poll(timeout);
  if (!r) return set_error(r.error()), -1;
  return *r;
}
int nbd_aio_get_fd(nbd_handle* h) {
  int fd = h->h.aio_get_fd();
  if (fd < 0) set_error(EINVAL, "nbd_aio_get_fd: the handle has no socket");
  return fd;
}
unsigned nbd_aio_get_direction(nbd_handle* h) { return h->h.aio_get_direction(); }
int nbd_aio_notify_read(nbd_handle* h) { return status(h->h.aio_notify_read()); }
int nbd_aio_notify_write(nbd_handle* h) { return status(h->h.aio_notify_write()); }
int nbd_aio_is_created(nbd_handle* h) { return h->h.aio_is_created(); }
int nbd_aio_is_connecting(nbd_handle* h) { return h->h.aio_is_connecting(); }
int nbd_aio_is_negotiating(nbd_handle* h) { return h->h.aio_is_negotiating(); }
int nbd_aio_is_ready(nbd_handle* h) { return h->h.aio_is_ready(); }
int nbd_aio_is_processing(nbd_handle* h) { return h->h.aio_is_processing(); }
int nbd_aio_is_dead(nbd_handle* h) { return h->h.aio_is_dead(); }
int nbd_aio_is_closed(nbd_handle* h) { return h->h.aio_is_closed(); }
int nbd_aio_command_completed(nbd_handle* h, uint64_t cookie) {
  return boolean(h->h.aio_command_completed(cookie));
}
int64_t nbd_aio_peek_command_completed(nbd_handle* h) {
  if (auto c = h->h.aio_peek_command_completed()) return int64_t(c);
  if (h->h.aio_in_flight() > 0) return 0;
  set_error(EINVAL, "nbd_aio_peek_command_completed: no commands are in flight");
  return -1;
}
int nbd_aio_in_flight(nbd_handle* h) { return int(h->h.aio_in_flight()); }
const char* nbd_connection_state(nbd_handle* h) { return h->h.state_name(); }

// ---- the library ----
const char* nbd_get_package_name(nbd_handle*) { return "nbdkit++"; }
const char* nbd_get_version(nbd_handle*) { return nbd::client::version(); }

}  // extern "C"
