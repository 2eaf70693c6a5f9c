// SPDX-License-Identifier: BSD-3-Clause
// Upstream's C plugin ABI on our server: the per-thread state the exported nbdkit_* functions
// (exports.cc) read and the adapter (c_plugin.cc) sets around every call into a C plugin.
#pragma once

#include <algorithm>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "nbd/plugin.h"
#include "nbd/result.h"

struct nbdkit_plugin;

namespace nbd::server::cabi {

// What nbdkit_export_name, nbdkit_is_tls, nbdkit_peer_* and the *_intern functions see. One per
// client connection (or per preconnect / list_exports call); owned by the adapter.
struct ClientContext {
  std::string export_name;
  bool has_export_name = false;
  bool is_tls = false;
  Peer peer;
  // Interned strings live as long as the context. Deque elements never move.
  std::mutex intern_mu;
  std::deque<std::string> interned;
};

// Makes ctx the calling thread's current client for its lifetime (null: none).
class ClientScope {
 public:
  explicit ClientScope(ClientContext* ctx);
  ~ClientScope();
  ClientScope(const ClientScope&) = delete;
  ClientScope& operator=(const ClientScope&) = delete;

 private:
  ClientContext* saved_;
};
ClientContext* current_client();

// Collects what one callback reports: the last nbdkit_error message and the nbdkit_set_error
// errno. Messages of a callback that then succeeds are logged when the scope ends; earlier
// messages of one that fails are logged as they are replaced. Scopes nest.
class CallScope {
 public:
  CallScope();
  ~CallScope();
  CallScope(const CallScope&) = delete;
  CallScope& operator=(const CallScope&) = delete;
  // The Error for a callback that returned failure. saved_errno is errno right after it
  // returned, used when the plugin declares errno_is_preserved; else EIO, unless
  // nbdkit_set_error said otherwise. `what` is used when the plugin gave no message.
  Error failure(const char* what, bool errno_is_preserved, int saved_errno);

 private:
  friend void record_error(std::string msg);
  friend void record_errno(int err);
  CallScope* outer_;
  std::optional<std::string> message_;
  int errnum_ = 0;
};

// Called by nbdkit_error / nbdkit_set_error: into the innermost CallScope, or logged at once.
void record_error(std::string msg);
void record_errno(int err);

// Our request flags (include/nbd/plugin.h) and upstream's NBDKIT_FLAG_* differ in value.
uint32_t to_c_flags(uint32_t ours);
uint32_t from_c_flags(uint32_t theirs);

// The largest count one call into a C callback takes (its counts are 32 bits): larger requests
// (extended headers) are split into calls of at most this.
inline constexpr uint64_t kMaxChunk = uint64_t(1) << 31;
// Runs one(done, n, offset + done) over [offset, offset + count) in pieces of at most kMaxChunk.
template <class F>
Status chunks(uint64_t count, uint64_t offset, F&& one) {
  for (uint64_t done = 0; done < count;) {
    uint64_t n = std::min(count - done, kMaxChunk);
    NBD_TRY(one(done, uint32_t(n), offset + done));
    done += n;
  }
  return ok();
}

// config_help is free text, "key=VALUE  what it does" per line: one ParamHelp per line, its
// key the text before '=' or a blank. The views point into help, which outlives the records.
std::vector<ParamHelp> split_config_help(const char* help);

// A C plugin, given its plugin_init (from dlsym, or a test's own): checks the struct, calls
// its load callback and returns a record whose factory makes the adapter. At most 8 per
// process; the record lives as long as the process.
Result<const PluginInfo*> load_c_plugin(nbdkit_plugin* (*init)(), const std::string& path);

// For find_plugin: the record if path is a C plugin; nullopt if it is not one (not loadable,
// or a C++ plugin), so the caller's own loader reports on it.
std::optional<Result<const PluginInfo*>> try_load_c_plugin(const std::string& path);
// The path of a loaded C plugin that carries the Go runtime (a cgo c-shared library), or "".
// The Go runtime's threads do not survive fork, so the server must not daemonize with it.
const std::string& go_runtime_plugin();
// What a C plugin may export as `nbdkitpp_spawn_thread` (nbdkit++'s extension to the C plugin
// ABI): start a thread that runs fn(arg) once and then ends; return 0 if it did, -1 if not.
// The server then starts its connection and worker threads through it (server/threads.h).
// Go plugins export it so those threads belong to the Go runtime: a call into Go from a thread
// the runtime does not know attaches and detaches the thread each time (needm/dropm, several
// system calls). nullptr when the plugin has none.
using ThreadSpawner = int (*)(void (*fn)(void*), void* arg);
ThreadSpawner thread_spawner();
void set_thread_spawner_for_test(ThreadSpawner spawner);

}  // namespace nbd::server::cabi

// The list behind the opaque struct nbdkit_extents: either the one the core passes to an
// extents request, or one made by nbdkit_extents_new.
struct nbdkit_extents {
  nbd::ExtentList* list;
  std::optional<nbd::ExtentList> owned;
};

// The list behind struct nbdkit_exports. A nullopt entry stands for nbdkit_use_default_export:
// the adapter puts the default export's name there.
struct nbdkit_exports {
  std::deque<std::optional<nbd::ExportInfo>> entries;
};
