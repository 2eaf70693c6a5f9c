// SPDX-License-Identifier: BSD-3-Clause
// Internal state of a client Handle: settings, the explicit protocol state machine, the
// receive/send buffers and the command slots. Each protocol phase lives in its own .cc file.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <chrono>
#include <cstdarg>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "client/transport.h"
#include "common/subprocess.h"
#include "common/temp_dir.h"
#include "nbd/client.h"
#include "nbd/protocol.h"

namespace nbd::client {

struct ExportInfo {
  bool valid = false;
  uint64_t size = 0;
  uint16_t flags = 0;
  nbd::BlockSize block_size;  // NBD_INFO_BLOCK_SIZE, all zero when the server sent none
  std::string canonical_name, description;
  bool have_name = false, have_description = false;
};

// One state per protocol phase, and one per option of the newstyle negotiation: each OPT_*
// state sends its option and reads the replies (options.cc). A new option is a new state here,
// a row in the state table (handle.cc) and a case where its replies are read.
enum class State {
  Created,
  Connecting,    // connect() in progress (connect.cc)
  Handshake,     // magic and flags (handshake.cc)
  OptStartTls,   // the options, in the order connecting sends them (options.cc)
  TlsHandshake,  // gnutls handshake after STARTTLS (tls.cc)
  OptExtendedHeaders,
  OptStructuredReply,
  OptSetMetaContext,
  OptGo,
  OptExportName,  // servers without GO, or not fixed newstyle
  OptInfo,        // the options only opt mode's calls send
  OptList,
  OptListMetaContext,
  OptAbort,
  Negotiating,  // opt mode: waiting for the caller's next opt_* call
  Ready,        // transmission (transmission.cc)
  Dead,
  Closed,
};
// The name in debug lines and errors, libnbd style: "NEWSTYLE.OPT_GO", "READY".
const char* state_name(State s);
// The NBD_OPT_* an option state sends; 0 for the other states.
uint32_t state_option(State s);
// From connect() until ready, or negotiating in opt mode.
bool is_connecting(State s);

// What the current negotiation is for: the automatic sequence of connect, or one opt_* call.
enum class Goal { Connect, UserOpt };

// What an option keeps between its replies, one struct per kind of option. It stays after its
// state is left, for the opt_* call to read, until the next option starts.
struct SwitchOption {  // STARTTLS, EXTENDED_HEADERS, STRUCTURED_REPLY, ABORT
  bool agreed = false;
};
struct ListOption {  // LIST; cb only while OPT_LIST runs
  const ListCallback* cb = nullptr;
  int count = 0;
};
struct MetaOption {  // SET_META_CONTEXT, LIST_META_CONTEXT; cb only while the state runs
  const ContextCallback* cb = nullptr;
  int count = 0;
  State then = State::Negotiating;  // OptGo/OptInfo: sent on their behalf, a refusal is no error
};
struct ExportOption {  // GO, INFO: the NBD_REP_INFO replies so far
  ExportInfo pending;
};
using OptionData = std::variant<std::monostate, SwitchOption, ListOption, MetaOption, ExportOption>;

enum class CmdPhase : uint8_t { Free, InFlight, Done };

struct CmdSlot {
  Cookie cookie = 0;
  CmdPhase phase = CmdPhase::Free;
  uint16_t type = 0;
  uint16_t wire_flags = 0;
  uint64_t offset = 0, count = 0;
  std::byte* rbuf = nullptr;        // read destination (count bytes)
  const std::byte* wbuf = nullptr;  // write payload (count bytes)
  int error = 0;
  bool got_data = false;  // read: saw a data/hole chunk (or a simple reply)
  bool discard = false;   // read: the data is thrown away (rbuf is null)
  CompletionCallback done;
  // At most one of these, set before the command goes out: a blocking call's own callback
  // (it outlives the command), or for aio_* the one moved into `owned`. Null: none.
  const ChunkCallback* chunk = nullptr;
  const ExtentCallback* extent = nullptr;
  const Extent32Callback* extent32 = nullptr;
  std::variant<std::monostate, ChunkCallback, ExtentCallback, Extent32Callback> owned;
  std::byte hdr[protocol::kExtendedRequestSize];
  uint32_t next_free = 0;  // free-list link (index + 1, 0 = end)
};

// Every public Handle method holds the handle's lock for its whole run, as libnbd does: calls
// from several threads are serialized, a blocking one for as long as it waits. Recursive, so
// a completion or chunk callback (run inside poll, with the lock held) may call the handle.
#define NBD_HANDLE_LOCK std::lock_guard<std::recursive_mutex> handle_lock_(impl_->lock)
// The lock for a call that can fail or trace, naming it once (libnbd's name: "nbd_pread") for
// its errors and debug lines. See ApiCall.
#define NBD_HANDLE_CALL(api) ApiCall api_call_(*impl_, api)

struct Handle::Impl {
  Impl();
  ~Impl();

  mutable std::recursive_mutex lock;

  // ---- settings ----
  std::string name;
  bool debug = false;
  std::string export_name;
  TlsMode tls = TlsMode::Disable;
  std::string tls_certificates, tls_username, tls_psk_file, tls_hostname;
  bool tls_verify_peer = true;
  bool request_sr = true, request_ext = true, request_meta = true, request_block_size = true;
  bool full_info = false, opt_mode = false, pread_initialize = true, uri_allow_local_file = false;
  int handshake_timeout_ms = -1;  // set_handshake_timeout
  uint32_t handshake_flags = kHandshakeFlagFixedNewstyle | kHandshakeFlagNoZeroes;
  uint32_t strict = kStrictAll;
  std::vector<std::string> meta_requests;
  // Where we connected, for get_uri and TLS hostname checks.
  enum class Where { None, Tcp, Unix, Vsock } where = Where::None;
  std::string where_host, where_port, where_socket;

  DebugCallback debug_cb;  // set_debug_callback: debug lines go here instead of stderr
  TlsMode uri_allow_tls = TlsMode::Allow;
  uint32_t uri_allow_transports = kAllowTransportAll;

  // ---- errors ----
  const char* api = "nbd";
  std::string error;
  int errnum = 0;
  Error fail(int err, const char* fmt, ...) __attribute__((format(printf, 3, 4)));
  Error failv(int err, const char* fmt, va_list ap);
  Error last_error() const { return make_error(errnum ? errnum : EIO, error); }
  void debugf(const char* fmt, ...) __attribute__((format(printf, 2, 3)));
  void debug_line(const char* msg);  // to debug_cb, or stderr
  // Protocol violations and I/O failures: fail every command, close the socket.
  void set_dead(int err, const char* fmt, ...) __attribute__((format(printf, 3, 4)));

  // ---- state ----
  State state = State::Created;
  int fd = -1;
  std::unique_ptr<Transport> transport;
  std::optional<Subprocess> child;  // connect_command / socket activation
  bool child_is_activated = false;
  TempDir activation_dir;  // private temp dir holding the activation socket
  void set_state(State s);
  // One step of a blocking connect or option call: poll_once, bounded by the handshake timeout
  // from start (the moment the call began).
  Status poll_handshake(std::chrono::steady_clock::time_point start, bool* did_work);
  void close_socket();
  void reap_child();

  // ---- receiving: one outstanding "want N bytes into ptr, then call handler" ----
  std::vector<std::byte> rbuf;  // large recv buffer
  size_t rstart = 0, rend = 0;
  std::byte* want_ptr = nullptr;
  size_t want_len = 0, want_got = 0;
  void (Impl::*want_then)() = nullptr;
  void want(std::byte* p, size_t n, void (Impl::*then)());
  std::byte small[64];             // headers
  std::vector<std::byte> payload;  // option replies and non-data chunks
  bool expect_eof = false;         // after NBD_CMD_DISC / NBD_OPT_ABORT

  // ---- sending ----
  std::vector<std::byte> hs_out;  // handshake/option bytes
  size_t hs_out_pos = 0;
  std::vector<iovec> iov;  // transmission: headers and write payloads
  size_t iov_head = 0;
  bool close_after_send = false;
  void queue_bytes(std::span<const std::byte> b);
  bool have_output() const { return hs_out_pos < hs_out.size() || iov_head < iov.size(); }

  // ---- driving (io.cc) ----
  Status notify_read();
  Status notify_write();
  Status notify(void (*move)(Impl&));
  unsigned direction() const;
  Status poll_once(int timeout_ms, bool* did_work);
  Status run_while(bool (*cond)(const Impl&));
  Status check_alive() const;
  bool has_buffered_input() const;

  // ---- connect (connect.cc) ----
  Status start_socket(int family, const sockaddr* sa, socklen_t len);
  Status start_connected(int sock);
  void on_connected();
  std::vector<std::vector<std::byte>> pending_addrs;  // TCP: further addresses to try
  Status connect_next_addr();

  // ---- handshake (handshake.cc) ----
  void start_handshake();
  void on_magic();
  void on_oldstyle();
  void on_newstyle_flags();
  bool fixed_newstyle = false, no_zeroes = false, oldstyle = false;

  // ---- options (options.cc) ----
  Goal goal = Goal::Connect;
  OptionData opt;  // of the option whose state we are in, or were in last
  // aio_opt_*: the option runs without a caller waiting; opt_done is called when it ends, and
  // the list callbacks are kept here until then.
  bool opt_async = false;
  CompletionCallback opt_done;
  ListCallback opt_list_cb;
  ContextCallback opt_context_cb;
  void finish_async_option();
  void end_user_option();
  uint32_t opt_reply_type = 0;
  Status opt_status;  // result of the last user option
  bool tls_on = false, sr = false, ext = false;
  bool meta_valid = false;  // meta_contexts answer the current export and meta_requests
  ExportInfo info;
  std::vector<std::pair<uint32_t, std::string>> meta_contexts;  // negotiated id -> name
  template <class T>
  T& opt_data() {
    T* d = std::get_if<T>(&opt);
    NBD_ASSERT(d);
    return *d;
  }
  State next_automatic(State after) const;
  void continue_automatic(State after);
  bool meta_before_go() const;
  void start_go(State go);
  void start_option(State s, OptionData data = {});
  void await_opt_reply();
  void on_opt_reply_header();
  void on_opt_reply_payload();
  void handle_opt_reply(uint32_t type);
  void option_done(Status st);
  void on_export_name_reply();
  void start_export_name();
  Status start_user_option(State s, OptionData data = {});
  Status begin_user_option(State s, OptionData data);

  // ---- TLS (tls.cc) ----
  TlsTransport* tls_session = nullptr;  // owned by transport
  void start_tls();
  void tls_step();

  // ---- transmission (transmission.cc) ----
  std::vector<std::unique_ptr<CmdSlot[]>> slot_blocks;
  std::vector<CmdSlot*> slots;  // index -> command
  uint32_t free_head = 0;       // index + 1
  uint64_t next_seq = 1;
  size_t in_flight = 0;
  size_t done_count = 0;   // completed, not retired
  CmdSlot* cur = nullptr;  // command whose reply is being read
  size_t reply_hdr_size = 0;
  bool disconnect_queued = false;
  std::byte disc_hdr[protocol::kExtendedRequestSize];
  std::vector<Extent> extents;  // reused for block status callbacks
  std::vector<uint32_t> extents32;
  protocol::ReplyHeader rh;
  Result<CmdSlot*> alloc_command();
  void free_command(CmdSlot* c);
  CmdSlot* find(Cookie cookie) const;
  Result<Cookie> submit(CmdSlot* c);
  void start_reply();
  void on_reply_magic();
  void on_reply_header();
  void on_simple_read_data();
  void on_data_offset();
  void on_data_payload();
  void on_chunk_payload();
  void chunk_finished();
  void complete(CmdSlot* c);
  void fail_all(int err);
  void on_ready();
};

// NBD_HANDLE_CALL: holds the handle's lock and sets h.api for the call's run. The outer name
// comes back when it returns, so a call made from a callback (or shutdown's own aio_disconnect)
// leaves the rest of the outer call's errors under the outer call's name.
class ApiCall {
 public:
  ApiCall(Handle::Impl& h, const char* api) : lock_(h.lock), h_(h), outer_(h.api) { h.api = api; }
  ~ApiCall() { h_.api = outer_; }
  ApiCall(const ApiCall&) = delete;
  ApiCall& operator=(const ApiCall&) = delete;

 private:
  std::lock_guard<std::recursive_mutex> lock_;
  Handle::Impl& h_;
  const char* outer_;
};

// Settings that change the negotiation may only be made before connecting (or, for
// before_go, also while negotiating in opt mode). Call under NBD_HANDLE_CALL.
Status before_connect(Handle::Impl& h);
// The PSK username when none is set: $LOGNAME, else $USER, as libnbd.
std::string default_tls_username();
Status before_go(Handle::Impl& h);

// Connecting (connect.cc): start a connection, or run until negotiation has finished.
Status start_unix(Handle::Impl& h, std::string_view path);
Status start_fd(Handle::Impl& h, int sock);
Status start_uri(Handle::Impl& h, std::string_view uri_text);
Status wait_connected(Handle::Impl& h);

// Percent-encodes an export name for a URI path (keeps unreserved characters and '/').
std::string uri_encode_path(std::string_view s);

}  // namespace nbd::client
