// SPDX-License-Identifier: BSD-3-Clause
// The adapter from upstream's struct nbdkit_plugin (a C plugin .so, API version 1 or 2) to our
// Plugin / Connection: each missing callback gets upstream's default, flags are translated,
// counts over 32 bits are split, and a failing callback becomes an Error with its errno and
// its last nbdkit_error message.
#include <dlfcn.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#define NBDKIT_API_VERSION 2
#include "nbd/log.h"
#include "nbdkit-plugin.h"
#include "server/cabi/cabi.h"

namespace nbd::server::cabi {
namespace {

// Upstream's callbacks take 32-bit counts; larger requests go in pieces of this size.

// One loaded C plugin: a copy of its struct (zero beyond the plugin's _struct_size) and the
// record the server sees.
struct Slot {
  nbdkit_plugin p{};
  std::string path;
  std::string description;
  std::vector<ParamHelp> params;
  PluginInfo info{};
};
constexpr int kSlots = 8;
Slot g_slots[kSlots];
int g_used = 0;

// Runs one callback returning an integer or pointer, with ctx as the current client; a
// negative (or null) result becomes the Error.
template <class F>
auto call(const nbdkit_plugin& p, ClientContext* ctx, const char* what, F&& f) -> Result<decltype(f())> {
  ClientScope client(ctx);
  CallScope scope;
  errno = 0;
  auto r = f();
  int saved = errno;
  bool failed;
  if constexpr (std::is_pointer_v<decltype(r)>)
    failed = r == nullptr;
  else
    failed = r < 0;
  if (failed) return scope.failure(what, p.errno_is_preserved != 0, saved);
  return r;
}

class CConnection : public Connection {
 public:
  CConnection(const nbdkit_plugin& p, std::unique_ptr<ClientContext> ctx, void* handle)
      : p_(p), ctx_(std::move(ctx)), h_(handle) {}
  ~CConnection() override {
    if (!p_.close) return;
    ClientScope client(ctx_.get());
    CallScope scope;
    p_.close(h_);
  }

  Result<uint64_t> get_size() override {
    NBD_TRY_ASSIGN(int64_t n, run("get_size", [&] { return p_.get_size(h_); }));
    return uint64_t(n);
  }
  Result<BlockSize> block_size() override {
    if (!p_.block_size) return BlockSize{};
    BlockSize b;
    NBD_TRY(run("block_size", [&] { return p_.block_size(h_, &b.minimum, &b.preferred, &b.maximum); }));
    return b;
  }
  Result<bool> can_write() override { return ask("can_write", p_.can_write, p_.pwrite || p_._pwrite_v1); }
  Result<bool> can_flush() override { return ask("can_flush", p_.can_flush, p_.flush || p_._flush_v1); }
  Result<bool> is_rotational() override { return ask("is_rotational", p_.is_rotational, false); }
  Result<bool> can_trim() override { return ask("can_trim", p_.can_trim, p_.trim || p_._trim_v1); }
  // Like upstream: a plugin whose can_zero says no still gets zero requests, written as zeroes
  // by the core; one with a zero callback does them itself.
  Result<ZeroMode> can_zero() override {
    NBD_TRY_ASSIGN(bool native, ask("can_zero", p_.can_zero, true));
    return native && has_zero() ? ZeroMode::Native : ZeroMode::Emulate;
  }
  // Upstream's default: fast without a (version 2) zero callback, since such a zero fails
  // at once with ENOTSUP instead of writing zeroes.
  Result<bool> can_fast_zero() override { return ask("can_fast_zero", p_.can_fast_zero, p_.zero == nullptr); }
  Result<bool> can_extents() override { return ask("can_extents", p_.can_extents, p_.extents != nullptr); }
  Result<bool> can_multi_conn() override { return ask("can_multi_conn", p_.can_multi_conn, false); }
  Result<FuaMode> can_fua() override {
    if (!p_.can_fua) {
      NBD_TRY_ASSIGN(bool flush, can_flush());
      return flush ? FuaMode::Emulate : FuaMode::None;
    }
    NBD_TRY_ASSIGN(int r, run("can_fua", [&] { return p_.can_fua(h_); }));
    // A version 1 plugin's pwrite has no flags: it cannot do FUA itself.
    if (r >= NBDKIT_FUA_NATIVE && !p_.pwrite) r = NBDKIT_FUA_EMULATE;
    return r == NBDKIT_FUA_NONE      ? FuaMode::None
           : r == NBDKIT_FUA_EMULATE ? FuaMode::Emulate
                                     : FuaMode::Native;
  }
  Result<CacheMode> can_cache() override {
    if (!p_.can_cache) return p_.cache ? CacheMode::Native : CacheMode::None;
    NBD_TRY_ASSIGN(int r, run("can_cache", [&] { return p_.can_cache(h_); }));
    return r == NBDKIT_CACHE_NONE      ? CacheMode::None
           : r == NBDKIT_CACHE_EMULATE ? CacheMode::Emulate
                                       : CacheMode::Native;
  }
  Result<std::string> export_description() override {
    if (!p_.export_description) return std::string();
    ClientScope client(ctx_.get());
    CallScope scope;
    const char* d = p_.export_description(h_);
    return std::string(d ? d : "");
  }

  Status pread(std::span<std::byte> buf, uint64_t offset, uint32_t flags) override {
    return chunks(buf.size(), offset, [&](uint64_t done, uint32_t n, uint64_t off) {
      return run("pread", [&] {
        return p_.pread ? p_.pread(h_, buf.data() + done, n, off, to_c_flags(flags))
                        : p_._pread_v1(h_, buf.data() + done, n, off);
      });
    });
  }
  Status pwrite(std::span<const std::byte> buf, uint64_t offset, uint32_t flags) override {
    if (!p_.pwrite && !p_._pwrite_v1) return make_error(EROFS, "pwrite: the plugin cannot write");
    return chunks(buf.size(), offset, [&](uint64_t done, uint32_t n, uint64_t off) {
      return run("pwrite", [&] {
        return p_.pwrite ? p_.pwrite(h_, buf.data() + done, n, off, to_c_flags(flags))
                         : p_._pwrite_v1(h_, buf.data() + done, n, off);
      });
    });
  }
  Status flush(uint32_t flags) override {
    if (!p_.flush && !p_._flush_v1) return make_error(EINVAL, "flush: the plugin cannot flush");
    return run_status("flush", [&] { return p_.flush ? p_.flush(h_, to_c_flags(flags)) : p_._flush_v1(h_); });
  }
  Status trim(uint64_t count, uint64_t offset, uint32_t flags) override {
    if (!p_.trim && !p_._trim_v1) return make_error(EINVAL, "trim: the plugin cannot trim");
    return chunks(count, offset, [&](uint64_t, uint32_t n, uint64_t off) {
      return run("trim",
                 [&] { return p_.trim ? p_.trim(h_, n, off, to_c_flags(flags)) : p_._trim_v1(h_, n, off); });
    });
  }
  Status zero(uint64_t count, uint64_t offset, uint32_t flags) override {
    // Without a zero callback, or a version 1 one that cannot promise speed, say ENOTSUP: the
    // core writes zeroes itself, or fails a fast zero at once.
    if (!has_zero() || (!p_.zero && (flags & kFastZero)))
      return make_error(ENOTSUP, "zero: the plugin has no (fast) zero");
    return chunks(count, offset, [&](uint64_t, uint32_t n, uint64_t off) {
      return run("zero", [&] {
        return p_.zero ? p_.zero(h_, n, off, to_c_flags(flags))
                       : p_._zero_v1(h_, n, off, (flags & kMayTrim) != 0);
      });
    });
  }
  Status extents(uint64_t count, uint64_t offset, uint32_t flags, ExtentList& list) override {
    if (!p_.extents) return list.add(offset, count, 0);
    nbdkit_extents e{&list, std::nullopt};
    uint32_t n = uint32_t(std::min<uint64_t>(count, kMaxChunk));
    NBD_TRY(run("extents", [&] { return p_.extents(h_, n, offset, to_c_flags(flags), &e); }));
    if (list.next_offset() <= offset)
      return make_error(EIO, "extents: the plugin reported no extent at the offset");
    return ok();
  }
  Status cache(uint64_t count, uint64_t offset, uint32_t flags) override {
    if (!p_.cache) return make_error(EINVAL, "cache: the plugin cannot cache");
    return chunks(count, offset, [&](uint64_t, uint32_t n, uint64_t off) {
      return run("cache", [&] { return p_.cache(h_, n, off, to_c_flags(flags)); });
    });
  }

 private:
  bool has_zero() const { return p_.zero || p_._zero_v1; }
  template <class F>
  auto run(const char* what, F&& f) -> Result<decltype(f())> {
    return call(p_, ctx_.get(), what, std::forward<F>(f));
  }
  template <class F>
  Status run_status(const char* what, F&& f) {
    auto r = run(what, std::forward<F>(f));
    if (!r) return std::move(r).error();
    return ok();
  }
  // A can_* answer: the callback's if there is one, else upstream's default.
  Result<bool> ask(const char* what, int (*cb)(void*), bool fallback) {
    if (!cb) return fallback;
    NBD_TRY_ASSIGN(int r, run(what, [&] { return cb(h_); }));
    return r != 0;
  }

  const nbdkit_plugin& p_;
  std::unique_ptr<ClientContext> ctx_;
  void* h_;
};

class CPlugin : public Plugin {
 public:
  explicit CPlugin(const Slot& s) : s_(s), p_(s.p) {}

  Status config(std::string_view key, std::string_view value) override {
    if (!p_.config)
      return make_error(EINVAL,
                        std::string(key) + "=" + std::string(value) + ": this plugin takes no parameters");
    // Upstream passes argv itself, so plugins keep these pointers (data=, dir=): they must
    // live as long as the process.
    const char* k = args_.emplace_back(key).c_str();
    const char* v = args_.emplace_back(value).c_str();
    return status(call(p_, nullptr, "config", [&] { return p_.config(k, v); }));
  }
  Status config_complete() override { return optional("config_complete", p_.config_complete); }
  ThreadModel thread_model() override {
    int model = p_._thread_model;
    if (p_.thread_model) {
      auto r = call(p_, nullptr, "thread_model", [&] { return p_.thread_model(); });
      if (!r)
        log::error("thread_model: %s", r.error().message.c_str());
      else
        model = std::min(model, *r);
    }
    return ThreadModel(std::clamp(model, 0, int(ThreadModel::Parallel)));
  }
  Status get_ready() override { return optional("get_ready", p_.get_ready); }
  Status after_fork() override { return optional("after_fork", p_.after_fork); }
  Status preconnect(const Peer& peer, bool readonly) override {
    if (!p_.preconnect) return ok();
    ClientContext ctx;
    ctx.peer = peer;
    return status(call(p_, &ctx, "preconnect", [&] { return p_.preconnect(readonly); }));
  }
  Result<std::vector<ExportInfo>> list_exports(bool readonly, bool is_tls) override {
    if (!p_.list_exports) {
      NBD_TRY_ASSIGN(std::string name, default_export(readonly, is_tls));
      return std::vector<ExportInfo>{{name, ""}};
    }
    ClientContext ctx;
    ctx.is_tls = is_tls;
    nbdkit_exports x;
    NBD_TRY(call(p_, &ctx, "list_exports", [&] { return p_.list_exports(readonly, is_tls, &x); }));
    std::vector<ExportInfo> out;
    for (auto& e : x.entries) {
      if (e) {
        out.push_back(std::move(*e));
        continue;
      }
      NBD_TRY_ASSIGN(std::string name, default_export(readonly, is_tls));
      out.push_back({std::move(name), ""});
    }
    return out;
  }
  Result<std::string> default_export(bool readonly, bool is_tls) override {
    if (!p_.default_export) return std::string();
    ClientContext ctx;
    ctx.is_tls = is_tls;
    NBD_TRY_ASSIGN(const char* name,
                   call(p_, &ctx, "default_export", [&] { return p_.default_export(readonly, is_tls); }));
    return std::string(name);
  }
  Result<std::unique_ptr<Connection>> open(const OpenParams& params) override {
    auto ctx = std::make_unique<ClientContext>();
    ctx->export_name = params.export_name;
    ctx->has_export_name = true;
    ctx->is_tls = params.is_tls;
    ctx->peer = params.peer;
    NBD_TRY_ASSIGN(void* h, call(p_, ctx.get(), "open", [&] { return p_.open(params.readonly); }));
    return std::unique_ptr<Connection>(std::make_unique<CConnection>(p_, std::move(ctx), h));
  }
  std::vector<std::string> dump_plugin() override {
    // Printed here rather than returned, so the plugin's own lines follow in order.
    std::printf("c_api_version=%d\nstruct_size=%llu\nmax_thread_model=%s\nerrno_is_preserved=%d\n",
                p_._api_version, (unsigned long long)s_.p._struct_size,
                thread_model_name(ThreadModel(std::clamp(p_._thread_model, 0, 3))), p_.errno_is_preserved);
    if (p_.longname) std::printf("longname=%s\n", p_.longname);
    if (p_.version) std::printf("plugin_version=%s\n", p_.version);
    // Upstream's has_CALLBACK=1 lines, which scripts use to probe a plugin.
    const std::pair<const char*, bool> has[] = {{"longname", p_.longname},
                                                {"unload", p_.unload},
                                                {"dump_plugin", p_.dump_plugin},
                                                {"config", p_.config},
                                                {"config_complete", p_.config_complete},
                                                {"config_help", p_.config_help},
                                                {"thread_model", p_.thread_model},
                                                {"get_ready", p_.get_ready},
                                                {"after_fork", p_.after_fork},
                                                {"preconnect", p_.preconnect},
                                                {"list_exports", p_.list_exports},
                                                {"default_export", p_.default_export},
                                                {"open", p_.open},
                                                {"close", p_.close},
                                                {"export_description", p_.export_description},
                                                {"get_size", p_.get_size},
                                                {"block_size", p_.block_size},
                                                {"can_write", p_.can_write},
                                                {"can_flush", p_.can_flush},
                                                {"is_rotational", p_.is_rotational},
                                                {"can_trim", p_.can_trim},
                                                {"can_zero", p_.can_zero},
                                                {"can_fast_zero", p_.can_fast_zero},
                                                {"can_extents", p_.can_extents},
                                                {"can_fua", p_.can_fua},
                                                {"can_multi_conn", p_.can_multi_conn},
                                                {"can_cache", p_.can_cache},
                                                {"pread", p_.pread || p_._pread_v1},
                                                {"pwrite", p_.pwrite || p_._pwrite_v1},
                                                {"flush", p_.flush || p_._flush_v1},
                                                {"trim", p_.trim || p_._trim_v1},
                                                {"zero", p_.zero || p_._zero_v1},
                                                {"extents", p_.extents},
                                                {"cache", p_.cache},
                                                {"cleanup", p_.cleanup}};
    for (const auto& [name, present] : has)
      if (present) std::printf("has_%s=1\n", name);
    if (p_.dump_plugin) {
      std::fflush(stdout);
      CallScope scope;
      p_.dump_plugin();
      std::fflush(stdout);
    }
    return {};
  }
  void unload() override {
    CallScope scope;
    if (p_.cleanup) p_.cleanup();
    if (p_.unload) p_.unload();
  }

 private:
  template <class T>
  static Status status(Result<T> r) {
    if (!r) return std::move(r).error();
    return ok();
  }
  Status optional(const char* what, int (*cb)()) {
    if (!cb) return ok();
    return status(call(p_, nullptr, what, [&] { return cb(); }));
  }

  const Slot& s_;
  const nbdkit_plugin& p_;
  std::deque<std::string> args_;  // elements never move
};

template <int N>
std::unique_ptr<Plugin> make_plugin() {
  return std::make_unique<CPlugin>(g_slots[N]);
}
std::unique_ptr<Plugin> (*const kFactories[kSlots])() = {make_plugin<0>, make_plugin<1>, make_plugin<2>,
                                                         make_plugin<3>, make_plugin<4>, make_plugin<5>,
                                                         make_plugin<6>, make_plugin<7>};

}  // namespace

Result<const PluginInfo*> load_c_plugin(nbdkit_plugin* (*init)(), const std::string& path) {
  if (g_used == kSlots) return make_error(EMFILE, "plugin '" + path + "': too many C plugins loaded");
  const nbdkit_plugin* src = init();
  if (!src) return make_error(EINVAL, "plugin '" + path + "': plugin_init returned NULL");
  if (src->_api_version < 1 || src->_api_version > 2)
    return make_error(EINVAL, "plugin '" + path + "': API version " + std::to_string(src->_api_version) +
                                  " is not supported (this nbdkit knows versions 1 and 2)");
  // _struct_size says how much of the struct the plugin's header had: fields past it are
  // unknown to the plugin and stay null; fields past ours are newer than we know and ignored.
  if (src->_struct_size < offsetof(nbdkit_plugin, errno_is_preserved))
    return make_error(EINVAL, "plugin '" + path + "': struct nbdkit_plugin is too small");
  Slot& s = g_slots[g_used];
  std::memcpy(&s.p, src, std::min<size_t>(src->_struct_size, sizeof s.p));
  if (!s.p.name || !*s.p.name) return make_error(EINVAL, "plugin '" + path + "' has no name");
  if (!s.p.open || !s.p.get_size || (!s.p.pread && !s.p._pread_v1))
    return make_error(EINVAL,
                      "plugin '" + path + "' lacks one of the required open, get_size, pread callbacks");
  if (s.p.load) {
    CallScope scope;
    s.p.load();
  }
  s.path = path;
  const char* d = s.p.longname ? s.p.longname : s.p.description ? s.p.description : s.p.name;
  s.description = std::string(d, strcspn(d, "\n"));
  s.params = split_config_help(s.p.config_help);
  s.info = PluginInfo{s.p.name, s.description, s.p.magic_config_key ? s.p.magic_config_key : "", s.params,
                      kFactories[g_used]};
  ++g_used;
  return &s.info;
}

namespace {
std::string g_go_plugin;
ThreadSpawner g_spawner = nullptr;
}  // namespace
const std::string& go_runtime_plugin() { return g_go_plugin; }
ThreadSpawner thread_spawner() { return g_spawner; }
void set_thread_spawner_for_test(ThreadSpawner spawner) { g_spawner = spawner; }

std::optional<Result<const PluginInfo*>> try_load_c_plugin(const std::string& path) {
  void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!h) return std::nullopt;
  if (dlsym(h, "nbdkit_cpp_plugin_info") || !dlsym(h, "plugin_init")) {
    dlclose(h);
    return std::nullopt;
  }
  if (dlsym(h, "_cgo_topofstack") || dlsym(h, "crosscall2")) g_go_plugin = path;  // built by cgo
  if (void* spawn = dlsym(h, "nbdkitpp_spawn_thread")) g_spawner = reinterpret_cast<ThreadSpawner>(spawn);
  // Upstream loads C plugins RTLD_GLOBAL (language plugins load modules that need the
  // interpreter's symbols): promote this one, now that it is known to be one.
  dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD);
  auto r = load_c_plugin(reinterpret_cast<nbdkit_plugin* (*)()>(dlsym(h, "plugin_init")), path);
  if (!r) dlclose(h);
  return r;
}

}  // namespace nbd::server::cabi
