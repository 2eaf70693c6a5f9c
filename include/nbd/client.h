// SPDX-License-Identifier: BSD-3-Clause
// nbd::client: the NBD client library (the libnbd equivalent). One I/O path: every blocking
// call is the matching aio_* call plus "run the state machine until this cookie retires".
// CMake target: nbd_client (src/client). Tools link it and nothing else from src/.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <new>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "nbd/extent.h"
#include "nbd/protocol.h"
#include "nbd/result.h"

namespace nbd::client {

// Version of the library, e.g. "0.1.0" (tools print it for -V).
const char* version();

// ---- command flags: the wire values, which are also libnbd's LIBNBD_CMD_FLAG_* ----
inline constexpr uint32_t kCmdFlagFua = protocol::kCmdFlagFua;
inline constexpr uint32_t kCmdFlagNoHole = protocol::kCmdFlagNoHole;
inline constexpr uint32_t kCmdFlagDf = protocol::kCmdFlagDf;
inline constexpr uint32_t kCmdFlagReqOne = protocol::kCmdFlagReqOne;
inline constexpr uint32_t kCmdFlagFastZero = protocol::kCmdFlagFastZero;

// ---- strict mode bits (LIBNBD_STRICT_*); all are on by default ----
inline constexpr uint32_t kStrictCommands = 0x01;  // refuse commands the server did not advertise
inline constexpr uint32_t kStrictFlags = 0x02;     // refuse flags that do not apply / were not advertised
inline constexpr uint32_t kStrictBounds = 0x04;    // refuse requests beyond the export size
inline constexpr uint32_t kStrictZeroSize = 0x08;  // refuse zero-length requests
inline constexpr uint32_t kStrictAlign = 0x10;     // refuse requests not aligned to the minimum block size
inline constexpr uint32_t kStrictAll = 0x1f;

// ---- handshake flags (LIBNBD_HANDSHAKE_FLAG_*) ----
inline constexpr uint32_t kHandshakeFlagFixedNewstyle = protocol::kFlagFixedNewstyle;
inline constexpr uint32_t kHandshakeFlagNoZeroes = protocol::kFlagNoZeroes;

// ---- aio_get_direction bits ----
inline constexpr unsigned kAioDirectionRead = 1;
inline constexpr unsigned kAioDirectionWrite = 2;
inline constexpr unsigned kAioDirectionBoth = 3;

// ---- pread_structured chunk status (LIBNBD_READ_*) ----
inline constexpr unsigned kReadData = 1;
inline constexpr unsigned kReadHole = 2;
inline constexpr unsigned kReadError = 3;

// ---- set_uri_allow_transports bits (LIBNBD_ALLOW_TRANSPORT_*) ----
inline constexpr uint32_t kAllowTransportTcp = 1;
inline constexpr uint32_t kAllowTransportUnix = 2;
inline constexpr uint32_t kAllowTransportVsock = 4;
inline constexpr uint32_t kAllowTransportAll = 7;

// ---- shutdown flags ----
inline constexpr uint32_t kShutdownAbandonPending = 0x10000;  // don't wait for queued commands

// ---- base:allocation extent flags: nbd::kExtentHole, nbd::kExtentZero (nbd/extent.h) ----

enum class TlsMode { Disable, Allow, Require };
// Which of the block sizes get_block_size returns (libnbd's LIBNBD_SIZE_*).
enum class BlockSizeKind { Minimum = 0, Preferred = 1, Maximum = 2, Payload = 3 };

// A command's identity while it is in flight: positive, unique and increasing per handle.
using Cookie = uint64_t;

// A callable kept inside the command record, never on the heap: a lambda or function object
// of at most kCapacity bytes (capture references, or a pointer to the caller's state), or a
// function pointer. Copyable like std::function, whose place it takes; empty by default, and
// an empty one is never called. A capture that is too large is a compile error.
template <class Signature>
class InlineCallback;

template <class R, class... Args>
class InlineCallback<R(Args...)> {
 public:
  static constexpr size_t kCapacity = 4 * sizeof(void*);

  InlineCallback() noexcept = default;
  InlineCallback(std::nullptr_t) noexcept {}
  template <class F>
  requires(!std::is_same_v<std::remove_cvref_t<F>, InlineCallback> &&
           std::is_invocable_r_v<R, std::decay_t<F>&, Args...>)
      InlineCallback(F&& f) {  // implicit: a lambda converts, as to std::function
    using D = std::decay_t<F>;
    static_assert(sizeof(D) <= kCapacity && alignof(D) <= alignof(void*),
                  "callback too large to keep in the command: capture a pointer to its state");
    static_assert(std::is_copy_constructible_v<D>, "callbacks are copied, as std::function's are");
    if constexpr (std::is_pointer_v<D>) {
      if (!f) return;
    }
    ::new (static_cast<void*>(buf_)) D(std::forward<F>(f));
    call_ = [](void* p, Args... a) -> R { return (*static_cast<D*>(p))(std::forward<Args>(a)...); };
    if constexpr (!std::is_trivially_copyable_v<D>) manage_ = &manage<D>;
  }
  InlineCallback(const InlineCallback& o) { copy_from(o); }
  InlineCallback& operator=(const InlineCallback& o) {
    if (this != &o) {
      reset();
      copy_from(o);
    }
    return *this;
  }
  ~InlineCallback() { reset(); }

  explicit operator bool() const noexcept { return call_ != nullptr; }
  R operator()(Args... a) const { return call_(buf_, std::forward<Args>(a)...); }  // not empty

 private:
  template <class D>
  static void manage(void* dst, const void* src) {  // copies src into dst, or destroys dst
    if (src)
      ::new (dst) D(*static_cast<const D*>(src));
    else
      static_cast<D*>(dst)->~D();
  }
  void copy_from(const InlineCallback& o) {
    if (!o.call_) return;
    if (o.manage_)
      o.manage_(buf_, o.buf_);
    else
      std::memcpy(buf_, o.buf_, kCapacity);
    call_ = o.call_;
    manage_ = o.manage_;
  }
  void reset() {
    if (manage_) manage_(buf_, nullptr);
    call_ = nullptr;
    manage_ = nullptr;
  }

  alignas(void*) mutable unsigned char buf_[kCapacity];
  R (*call_)(void*, Args...) = nullptr;
  void (*manage_)(void* dst, const void* src) = nullptr;
};

// Called once when a command retires (reply complete, or the handle died). *error is 0 or an
// errno; the callback may change it. Return 1 to retire the command automatically (then
// aio_command_completed must not be called for it), 0 to leave it for aio_command_completed.
// Kept in the command itself: submitting a command allocates nothing.
using CompletionCallback = InlineCallback<int(int* error)>;

// Called for each chunk of a structured read: status is kReadData (subbuf holds the data),
// kReadHole (subbuf was zeroed) or kReadError (*error holds the server's errno). offset is the
// absolute export offset of subbuf. Return 0 to go on, -1 to fail the command (with *error).
using ChunkCallback =
    std::function<int(std::span<const std::byte> subbuf, uint64_t offset, unsigned status, int* error)>;

// Called once per negotiated meta context per reply chunk, with the entries as nbd::Extent
// (nbd/extent.h): offsets filled in, the first at `offset`, each following the last.
// Return 0 to go on, -1 to fail the command (with *error).
using ExtentCallback = std::function<int(std::string_view metacontext, uint64_t offset,
                                         std::span<const Extent> entries, int* error)>;
// libnbd's classic 32-bit form: entries are (length, flags) pairs.
using Extent32Callback = std::function<int(std::string_view metacontext, uint64_t offset,
                                           std::span<const uint32_t> entries, int* error)>;

// set_debug_callback: one debug line, with the API call it came from ("nbd_pread"). Return 0.
using DebugCallback = std::function<int(const char* context, const char* msg)>;

// opt_list: one export name and its description (maybe empty). Return 0.
using ListCallback = std::function<int(std::string_view name, std::string_view description)>;
// opt_list_meta_context / opt_set_meta_context: one context name. Return 0.
using ContextCallback = std::function<int(std::string_view name)>;

// A connection to one NBD server. Thread-safe as libnbd's handles: any thread may call any
// method; each call holds the handle's lock, so calls are serialized (a blocking call for as
// long as it waits: for parallel I/O use aio_* from one thread, or one Handle per connection).
// Callbacks run inside poll/notify calls, in the calling thread with the lock held; they may
// issue aio_* commands on the same Handle but must not call its blocking methods.
// Every failing call also leaves its message and errno on the handle (get_error/get_errno);
// with several threads, the Error each call returns is that call's own.
// Destroying the handle closes the socket and kills and reaps any server it started.
class Handle {
 public:
  Handle();
  ~Handle();
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;

  // ---- last error ----
  const std::string& get_error() const;  // "" if none; valid until this thread calls it again
  int get_errno() const;                 // 0 if none

  // ---- settings (before connecting unless said otherwise) ----
  void set_debug(bool on);  // also on when LIBNBD_DEBUG=1 in the environment
  bool get_debug() const;
  // Debug lines go to cb instead of stderr (still only while debug is on).
  void set_debug_callback(DebugCallback cb);
  void clear_debug_callback();
  void set_handle_name(std::string name);  // used in debug lines; default "nbd1", "nbd2", ...
  std::string get_handle_name() const;
  Status set_export_name(std::string name);  // also allowed in opt mode, before opt_go/opt_info
  std::string get_export_name() const;
  Status set_tls(TlsMode mode);  // default Disable (URIs nbds:// set Require)
  TlsMode get_tls() const;
  Status set_tls_certificates(std::string dir);  // ca-cert.pem, client-cert.pem, client-key.pem
  Status set_tls_verify_peer(bool verify);       // default true
  bool get_tls_verify_peer() const;
  Status set_tls_username(std::string username);   // PSK identity; default: $LOGNAME/$USER
  std::string get_tls_username() const;            // the one set, or the default
  Status set_tls_psk_file(std::string path);       // "user:hexkey" lines
  Status set_tls_hostname(std::string hostname);   // for certificate checks; default: the host
  Status set_request_structured_replies(bool on);  // default true
  bool get_request_structured_replies() const;
  Status set_request_extended_headers(bool on);  // default true
  bool get_request_extended_headers() const;
  Status set_request_meta_context(bool on);  // default true: SET_META_CONTEXT before GO
  bool get_request_meta_context() const;
  Status set_request_block_size(bool on);  // default true: ask for NBD_INFO_BLOCK_SIZE
  bool get_request_block_size() const;
  Status set_full_info(bool on);  // default false: ask for name and description
  bool get_full_info() const;
  Status set_handshake_flags(uint32_t flags);  // default kHandshakeFlagFixedNewstyle|NoZeroes
  uint32_t get_handshake_flags() const;
  void set_strict_mode(uint32_t flags);  // any time
  uint32_t get_strict_mode() const;
  void set_pread_initialize(bool on);  // default true: zero read buffers before reading
  bool get_pread_initialize() const;
  // Longest wait for the server during each blocking connect or option call (connect_*,
  // opt_*), in milliseconds; -1 (the default, like libnbd) waits without end. On expiry the
  // call fails with ETIMEDOUT and the handle is dead. Not in libnbd.
  void set_handshake_timeout(int ms);
  Status set_opt_mode(bool on);  // default false: stop in negotiation after connecting
  bool get_opt_mode() const;
  Status add_meta_context(std::string name);  // "base:allocation", "qemu:dirty-bitmap:X", ...
  size_t get_nr_meta_contexts() const;
  Result<std::string> get_meta_context(size_t i) const;
  Status clear_meta_contexts();
  // connect_uri refuses tls-certificates= / tls-psk-file= unless this is on (default off).
  void set_uri_allow_local_file(bool on);
  // connect_uri refuses nbds:// under Disable and nbd:// under Require (default Allow).
  Status set_uri_allow_tls(TlsMode mode);
  // connect_uri refuses the transports not in mask (kAllowTransport*; default all).
  Status set_uri_allow_transports(uint32_t mask);

  // ---- connecting (blocking: returns once ready, or negotiating in opt mode) ----
  // nbd[s]://[user@]host[:port]/[export], nbd[s]+unix:///[export]?socket=PATH,
  // nbd[s]+vsock://cid[:port]/[export]; query: tls-certificates, tls-psk-file,
  // tls-verify-peer, tls-username, tls-hostname. Export name and values are percent-decoded.
  Status connect_uri(std::string_view uri);
  Status connect_unix(std::string_view path);
  Status connect_tcp(std::string_view host, std::string_view port);  // port: number or service
  Status connect_vsock(uint32_t cid, uint32_t port);
  Status connect_socket(int fd);  // takes ownership of a connected stream socket
  // Runs argv with its stdin and stdout connected to our socket (e.g. nbdkit -s ...).
  Status connect_command(const std::vector<std::string>& argv);
  // Runs argv with LISTEN_PID/LISTEN_FDS=1 and a listening Unix socket in a private temp dir
  // as fd 3 (systemd socket activation), then connects to it.
  Status connect_systemd_socket_activation(const std::vector<std::string>& argv);
  // The non-blocking forms: start connecting, then drive with poll/aio_notify_* until
  // aio_is_ready (or aio_is_negotiating in opt mode) or aio_is_dead.
  Status aio_connect_uri(std::string_view uri);
  Status aio_connect_unix(std::string_view path);
  Status aio_connect_tcp(std::string_view host, std::string_view port);
  Status aio_connect_vsock(uint32_t cid, uint32_t port);
  Status aio_connect_socket(int fd);
  Status aio_connect_command(const std::vector<std::string>& argv);
  Status aio_connect(const struct sockaddr* addr, unsigned addrlen);  // any stream address
  // Sends sig (0: SIGTERM) to the server connect_command started. No-op without one.
  Status kill_subprocess(int sig);
  Status aio_connect_systemd_socket_activation(const std::vector<std::string>& argv);

  // ---- option negotiation (opt mode, state negotiating) ----
  Status opt_go();                               // -> ready; on a server error stays negotiating
  Status opt_abort();                            // -> closed
  Status opt_info();                             // fills the export info getters for get_export_name()
  Result<int> opt_list(const ListCallback& cb);  // returns the number of exports
  Result<int> opt_list_meta_context(const ContextCallback& cb);  // queries: add_meta_context list
  Result<int> opt_set_meta_context(const ContextCallback& cb);
  Result<bool> opt_structured_reply();  // true if the server agreed
  Result<bool> opt_extended_headers();  // true if the server agreed
  Result<bool> opt_starttls();          // true if TLS is now on
  // The non-blocking forms: start the option and return; done runs (inside poll/notify) once
  // its replies are in, with *error 0 or the errno the blocking form would fail with. The
  // callbacks are kept until then.
  Status aio_opt_go(CompletionCallback done = {});
  Status aio_opt_info(CompletionCallback done = {});
  Status aio_opt_abort();
  Status aio_opt_list(ListCallback cb, CompletionCallback done = {});
  Status aio_opt_list_meta_context(ContextCallback cb, CompletionCallback done = {});

  // ---- export info (after opt_info or once ready) ----
  Result<int64_t> get_size() const;
  Result<int64_t> get_block_size(BlockSizeKind which) const;  // 0 if the server did not say
  Result<bool> is_read_only() const;
  Result<bool> is_rotational() const;
  Result<bool> can_flush() const;
  Result<bool> can_fua() const;
  Result<bool> can_trim() const;
  Result<bool> can_zero() const;
  Result<bool> can_fast_zero() const;
  Result<bool> can_df() const;
  Result<bool> can_multi_conn() const;
  Result<bool> can_cache() const;
  Result<bool> can_meta_context(std::string_view name) const;
  Result<std::string> get_canonical_export_name() const;  // needs set_full_info(true)
  Result<std::string> get_export_description() const;     // needs set_full_info(true)
  Result<std::string> get_protocol() const;               // "newstyle-fixed", "newstyle", "oldstyle"
  Result<bool> get_structured_replies_negotiated() const;
  Result<bool> get_extended_headers_negotiated() const;
  Result<bool> get_tls_negotiated() const;
  // A URI that reaches the same export (for socket activation: nbd+unix:///?socket=...).
  Result<std::string> get_uri() const;

  // ---- blocking commands ----
  // buf must stay valid until the call returns. flags: kCmdFlag* as the command allows.
  Status pread(std::span<std::byte> buf, uint64_t offset, uint32_t flags = 0);
  Status pread_structured(std::span<std::byte> buf, uint64_t offset, const ChunkCallback& chunk,
                          uint32_t flags = 0);
  Status pwrite(std::span<const std::byte> buf, uint64_t offset, uint32_t flags = 0);
  Status flush(uint32_t flags = 0);
  Status trim(uint64_t count, uint64_t offset, uint32_t flags = 0);
  Status cache(uint64_t count, uint64_t offset, uint32_t flags = 0);
  Status zero(uint64_t count, uint64_t offset, uint32_t flags = 0);
  Status block_status_64(uint64_t count, uint64_t offset, const ExtentCallback& extent, uint32_t flags = 0);
  Status block_status(uint64_t count, uint64_t offset, const Extent32Callback& extent, uint32_t flags = 0);
  // Sends NBD_CMD_DISC after the queued commands (dropping those not yet sent with
  // kShutdownAbandonPending: they fail with ESHUTDOWN) and waits for the server to close.
  // While negotiating in opt mode it is opt_abort.
  Status shutdown(uint32_t flags = 0);

  // ---- asynchronous commands: queue and return a cookie ----
  // Buffers must stay valid until the command retires, and a write's payload unchanged (large
  // payloads go to the kernel by reference). Callbacks are copied into the command.
  Result<Cookie> aio_pread(std::span<std::byte> buf, uint64_t offset, CompletionCallback done = {},
                           uint32_t flags = 0);
  Result<Cookie> aio_pread_structured(std::span<std::byte> buf, uint64_t offset, ChunkCallback chunk,
                                      CompletionCallback done = {}, uint32_t flags = 0);
  // Reads count bytes and throws them away, without copying them into memory where the
  // transport allows (a plain socket: splice to /dev/null). For checking that a range reads
  // without error, as nbdcopy does with a null: destination. Not in libnbd.
  Result<Cookie> aio_pread_discard(uint64_t count, uint64_t offset, CompletionCallback done = {},
                                   uint32_t flags = 0);
  Result<Cookie> aio_pwrite(std::span<const std::byte> buf, uint64_t offset, CompletionCallback done = {},
                            uint32_t flags = 0);
  Result<Cookie> aio_flush(CompletionCallback done = {}, uint32_t flags = 0);
  Result<Cookie> aio_trim(uint64_t count, uint64_t offset, CompletionCallback done = {}, uint32_t flags = 0);
  Result<Cookie> aio_cache(uint64_t count, uint64_t offset, CompletionCallback done = {}, uint32_t flags = 0);
  Result<Cookie> aio_zero(uint64_t count, uint64_t offset, CompletionCallback done = {}, uint32_t flags = 0);
  Result<Cookie> aio_block_status_64(uint64_t count, uint64_t offset, ExtentCallback extent,
                                     CompletionCallback done = {}, uint32_t flags = 0);
  Result<Cookie> aio_block_status(uint64_t count, uint64_t offset, Extent32Callback extent,
                                  CompletionCallback done = {}, uint32_t flags = 0);
  Status aio_disconnect(uint32_t flags = 0);

  // true: the command retired successfully (and is now forgotten); false: still in flight,
  // or a cookie this handle does not know (as libnbd); an Error: it failed (and is now forgotten).
  Result<bool> aio_command_completed(Cookie cookie);
  // A cookie that has completed but not retired, or 0 if none.
  Cookie aio_peek_command_completed() const;
  // Commands queued or sent and not yet replied to.
  size_t aio_in_flight() const;

  // ---- driving the state machine ----
  // Waits up to timeout_ms (-1 = forever) for the socket and moves bytes. Returns 1 if it did
  // some work, 0 on timeout. Fails if the handle is dead or not connected.
  Result<int> poll(int timeout_ms);
  int aio_get_fd() const;              // -1 if there is no socket
  unsigned aio_get_direction() const;  // kAioDirection* the state machine waits for
  Status aio_notify_read();            // the caller saw the fd readable
  Status aio_notify_write();           // the caller saw the fd writable

  bool aio_is_created() const;
  bool aio_is_connecting() const;
  bool aio_is_negotiating() const;
  bool aio_is_ready() const;       // in transmission: commands may be issued
  bool aio_is_processing() const;  // in transmission with commands in flight
  bool aio_is_dead() const;
  bool aio_is_closed() const;
  const char* state_name() const;  // for debug output and tests

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// Parsed form of an NBD URI (exposed for tools and tests).
struct Uri {
  bool tls = false;
  enum class Transport { Tcp, Unix, Vsock } transport = Transport::Tcp;
  std::string host;         // TCP host (IPv6 literal without brackets) or vsock cid
  std::string port;         // "10809" by default
  std::string socket;       // Unix socket path
  std::string export_name;  // percent-decoded
  std::string user;         // PSK username
  std::string tls_certificates, tls_psk_file, tls_hostname, tls_username;
  int tls_verify_peer = -1;  // -1 unset
};
Result<Uri> parse_uri(std::string_view uri);
bool is_uri(std::string_view s);  // starts with an NBD URI scheme

}  // namespace nbd::client
