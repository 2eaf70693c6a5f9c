// SPDX-License-Identifier: BSD-3-Clause
// The C++ plugin API. Two levels, like upstream's Go bindings: a process-wide Plugin (configure,
// get ready, open) and a per-client Connection (get_size, pread, pwrite, can_*, ...).
// The server core validates every request before a Connection sees it (bounds, flags,
// read-only, alignment) and emulates what a Connection lacks, so plugins stay naive:
//   - FUA when can_fua() is Emulate: the core calls flush() after the write;
//   - zero when can_zero() is Emulate (the default) and the export is writable: the core
//     writes zero buffers (a ZeroMode::Native plugin that fails with ENOTSUP falls back too);
//   - cache when can_cache() is Emulate: the core reads and discards;
//   - extents when can_extents() is false: the whole range is reported as data.
// A stray exception from any method becomes EIO plus a log line.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "nbd/extent.h"
#include "nbd/result.h"

namespace nbd {

// Strictest in the stack wins. Values are ordered from strictest to most relaxed.
enum class ThreadModel {
  SerializeConnections = 0,  // one connection at a time
  SerializeAllRequests = 1,  // one request at a time across all connections
  SerializeRequests = 2,     // one request at a time per connection
  Parallel = 3,              // many requests in flight per connection
};
const char* thread_model_name(ThreadModel m);

// Tri-state capability answers, mirroring nbdkit's NBDKIT_FUA_* / NBDKIT_CACHE_* /
// NBDKIT_ZERO_*. None: not offered. Emulate: the core does it at this layer's boundary with
// other calls (FUA by flush, cache by reading, zero by writing zeroes). Native: the layer does it.
enum class FuaMode { None, Emulate, Native };
enum class CacheMode { None, Emulate, Native };
enum class ZeroMode { None, Emulate, Native };

// Flags passed to data methods (a subset of the NBD command flags, with the same values).
inline constexpr uint32_t kFua = 1 << 0;       // write/trim/zero: persist before returning
inline constexpr uint32_t kMayTrim = 1 << 1;   // zero: may punch a hole (NBD_CMD_FLAG_NO_HOLE clear)
inline constexpr uint32_t kReqOne = 1 << 3;    // extents: only the first extent is needed
inline constexpr uint32_t kFastZero = 1 << 4;  // zero: fail with ENOTSUP rather than be slow

// Collects the extents a plugin reports for [start, end). Extents must be added in increasing,
// contiguous order; parts before start are dropped, adjacent extents of one type are merged,
// and anything past end is accepted and ignored. add() fails with EINVAL on a gap or overlap.
class ExtentList {
 public:
  ExtentList(uint64_t start, uint64_t end) { reset(start, end); }
  void reset(uint64_t start, uint64_t end);
  Status add(uint64_t offset, uint64_t length, uint64_t flags);
  uint64_t start() const { return start_; }
  uint64_t end() const { return end_; }
  // Offset up to which extents have been added (start() before the first add).
  uint64_t next_offset() const { return next_; }
  const std::vector<Extent>& extents() const { return extents_; }
  bool empty() const { return extents_.empty(); }

 private:
  uint64_t start_ = 0, end_ = 0, next_ = 0;
  std::vector<Extent> extents_;
};

struct ExportInfo {
  std::string name;
  std::string description;
};

// Who is on the other end of a client connection, known before the handshake (preconnect).
struct Peer {
  // "A.B.C.D:PORT", "[IPV6]:PORT", "unix" for a Unix socket, "vsock:CID:PORT", or "" when the
  // connection is not a socket (-s on a pipe).
  std::string address;
  // The raw address from getpeername; addr_len is 0 when there is none.
  sockaddr_storage addr{};
  socklen_t addr_len = 0;
  // SO_PEERCRED of a Unix-socket peer; -1 when unknown (TCP, vsock, pipes).
  int64_t pid = -1, uid = -1, gid = -1;
  int family() const { return addr_len ? addr.ss_family : AF_UNSPEC; }
};

// What the core knows about a client when it opens an export: the per-connection context
// every layer can read. A context opened by a filter with no client (background work) has
// connection_id 0 and an empty peer. Build it with designated initializers
// (OpenParams{.readonly = true, .export_name = "x"}) or by setting members by name, never
// positionally: members may be added anywhere, and a positional list would shift silently.
// Every member has a default initializer, so a designated initializer may leave any out
// (and -Wmissing-field-initializers stays quiet).
struct OpenParams {
  bool readonly = false;      // -r, or a filter asked for read-only
  std::string export_name{};  // as the client asked (the default export's name resolved)
  bool is_tls = false;
  // Same as peer.address (kept for plugins written before Peer).
  std::string client_address{};
  Peer peer{};
  uint64_t connection_id = 0;  // 1, 2, ... in accept order; 0 for a context with no client
  // With TLS: the client certificate's distinguished name, or the PSK username; else empty.
  std::string tls_identity{};
};

// Per-client object: one per NBD connection, created by Plugin::open after NBD_OPT_GO.
// Methods may be called from several threads at once when the thread model is Parallel.
// Capabilities default to "no". Offsets and counts are always within [0, get_size()).
class Connection {
 public:
  virtual ~Connection() = default;

  virtual Result<uint64_t> get_size() = 0;
  virtual Result<BlockSize> block_size() { return BlockSize{}; }
  virtual Result<bool> can_write() { return false; }
  virtual Result<bool> can_flush() { return false; }
  virtual Result<bool> is_rotational() { return false; }
  virtual Result<bool> can_trim() { return false; }
  // Emulate (the default): the core writes zeroes with pwrite when the layer is writable.
  virtual Result<ZeroMode> can_zero() { return ZeroMode::Emulate; }
  // The default: fast exactly when zero is emulated (an emulated fast zero fails at once).
  virtual Result<bool> can_fast_zero();
  virtual Result<bool> can_extents() { return false; }
  virtual Result<FuaMode> can_fua() { return FuaMode::None; }
  virtual Result<bool> can_multi_conn() { return false; }
  virtual Result<CacheMode> can_cache() { return CacheMode::None; }
  // Description for NBD_INFO_DESCRIPTION; empty means none.
  virtual Result<std::string> export_description() { return std::string(); }

  virtual Status pread(std::span<std::byte> buf, uint64_t offset, uint32_t flags) = 0;
  virtual Status pwrite(std::span<const std::byte> buf, uint64_t offset, uint32_t flags);
  virtual Status flush(uint32_t flags);
  virtual Status trim(uint64_t count, uint64_t offset, uint32_t flags);
  virtual Status zero(uint64_t count, uint64_t offset, uint32_t flags);
  virtual Status extents(uint64_t count, uint64_t offset, uint32_t flags, ExtentList& extents);
  virtual Status cache(uint64_t count, uint64_t offset, uint32_t flags);

  // Called by the core once after open, before any can_* or data call (layers nearest the
  // plugin first), and once before close (outermost first, only if prepare succeeded). Either
  // may fail: a failed prepare fails the open; a failed finalize disconnects the client. A
  // layer may read and write through the layer below in both (partition scan, cache writeback).
  virtual Status prepare(bool /*readonly*/) { return ok(); }
  virtual Status finalize() { return ok(); }
  // The layer below this one, whose finalize the core calls after this one's (a filter's next);
  // null for a plugin.
  virtual Connection* lower_layer() { return nullptr; }
};

// Process-wide object: holds the configuration (never in globals). Calls come in this order:
// config* → config_complete → get_ready → after_fork → (preconnect → list_exports/default_export
// → open)* per client → unload.
class Plugin {
 public:
  virtual ~Plugin() = default;

  // One KEY=VALUE from the command line. Unknown keys must give an EINVAL Error naming them.
  virtual Status config(std::string_view key, std::string_view value);
  virtual Status config_complete() { return ok(); }
  virtual ThreadModel thread_model() { return ThreadModel::Parallel; }
  virtual Status get_ready() { return ok(); }
  virtual Status after_fork() { return ok(); }
  // Before the handshake, before the server reads a byte from the client: an error refuses
  // the client (the connection is closed at once).
  virtual Status preconnect(const Peer& /*peer*/, bool /*readonly*/) { return ok(); }
  // Exports for NBD_OPT_LIST. The default lists just the default export "".
  virtual Result<std::vector<ExportInfo>> list_exports(bool readonly, bool is_tls);
  // Canonical name of the default export (the client asked for "").
  virtual Result<std::string> default_export(bool /*readonly*/, bool /*is_tls*/) { return std::string(); }
  virtual Result<std::unique_ptr<Connection>> open(const OpenParams& params) = 0;
  // Extra "key=value" lines for --dump-plugin.
  virtual std::vector<std::string> dump_plugin() { return {}; }
  virtual void unload() {}
};

struct ParamHelp {
  std::string_view key;   // e.g. "size"
  std::string_view help;  // one line, e.g. "SIZE  Size of the disk (required)"
};

// Sleeps ns nanoseconds, like upstream's nbdkit_nanosleep: returns ESHUTDOWN at once when the
// server starts shutting down (SIGINT/SIGTERM), so a plugin or filter that simulates slow
// storage never holds up the exit. For use inside request methods.
Status nanosleep(uint64_t ns);
// It also returns ESHUTDOWN early when the client of the calling request disconnects.
// Called by the server when it starts shutting down: wakes every nanosleep.
void begin_shutdown();

// Server calls, like upstream's nbdkit_shutdown and nbdkit_disconnect. shutdown_server asks the
// whole server to exit as if signalled. disconnect_client closes the connection of the calling
// request's client: at once with force (requests in flight fail), else after the replies in
// flight are sent. Outside a request it does nothing.
void shutdown_server();
void disconnect_client(bool force);

// The server sets, for each thread running a client's requests, which socket is that client's
// (nanosleep watches it; disconnect_client shuts it down). -1 for none.
class ClientScope {
 public:
  explicit ClientScope(int fd);
  ~ClientScope();
  ClientScope(const ClientScope&) = delete;
  ClientScope& operator=(const ClientScope&) = delete;

 private:
  int saved_;
};

// A debug flag, set from the command line with -D NAME.FLAG=N like upstream's NAME_debug_FLAG
// variables. Define one at namespace scope in a plugin or filter and test it where it matters:
//   nbd::DebugFlag debug_zero{"file", "zero"};   ...   if (debug_zero) nbd::log::debug(...);
// The server sets flags before the first config call; they keep their value for the process.
class DebugFlag {
 public:
  DebugFlag(std::string_view name, std::string_view flag, int initial = 0);
  ~DebugFlag();
  DebugFlag(const DebugFlag&) = delete;
  DebugFlag& operator=(const DebugFlag&) = delete;
  int value() const { return value_.load(std::memory_order_relaxed); }
  explicit operator bool() const { return value() != 0; }
  std::string_view name() const { return name_; }
  std::string_view flag() const { return flag_; }
  void set(int v) { value_.store(v, std::memory_order_relaxed); }

 private:
  std::string_view name_, flag_;
  std::atomic<int> value_;
};
// The flag NAME.FLAG if one is defined in the process (built in or in a loaded .so), else null.
DebugFlag* find_debug_flag(std::string_view name, std::string_view flag);

// One record per plugin; the build generates the table of built-in plugins from these.
// Bumped whenever PluginInfo, FilterInfo or the Plugin/Connection/Filter classes change
// shape, so a .so built against other headers is refused with one line instead of crashing.
inline constexpr uint32_t kCppAbiVersion = 2;

struct PluginInfo {
  std::string_view name;              // "memory"
  std::string_view description;       // one line for --help and --dump-plugin
  std::string_view magic_config_key;  // key for a bare first VALUE ("size" for memory), or empty
  std::span<const ParamHelp> params;
  std::unique_ptr<Plugin> (*factory)();
};

}  // namespace nbd

// An out-of-tree plugin (.so) defines exactly one of these; `nbdkit ./foo.so` finds it by dlsym.
// It also records the headers it was built with (NBD_CPP_ABI_RECORD), which the server checks.
#define NBD_CPP_ABI_RECORD(Info)                                                                             \
  extern "C" __attribute__((visibility("default"))) void nbdkit_cpp_abi(uint32_t* version, uint32_t* size) { \
    *version = ::nbd::kCppAbiVersion;                                                                        \
    *size = sizeof(Info);                                                                                    \
  }
#define NBD_EXPORT_PLUGIN(info)                                                                         \
  NBD_CPP_ABI_RECORD(::nbd::PluginInfo)                                                                 \
  extern "C" __attribute__((visibility("default"))) const ::nbd::PluginInfo* nbdkit_cpp_plugin_info() { \
    return &(info);                                                                                     \
  }
