// SPDX-License-Identifier: BSD-3-Clause
// The adapter from upstream's struct nbdkit_filter (a C filter .so, filter API version 6) to our
// Filter / FilterConnection. A missing callback forwards to the layer below, like upstream. The
// layer below reaches the C code as an nbdkit_next: a struct of function pointers (our CNext,
// whose first member is the nbdkit_next_ops) that call the Connection below, which is the
// core's boundary of that layer. A failing callback becomes an Error with its errno (*err for
// the data callbacks, else nbdkit_set_error, else EIO) and its last nbdkit_error message; a
// failure of the layer below is recorded into the calling callback's scope, so a filter that
// passes it on without a message of its own keeps the plugin's.
#include "server/cabi/c_filter.h"

#include <dlfcn.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "nbd/log.h"
#include "nbdkit-filter.h"
#include "server/cabi/cabi.h"

namespace cabi = nbd::server::cabi;
using nbd::Connection;
using nbd::Error;

// The opaque types of nbdkit-filter.h. A backend is one loaded filter's adapter; a context is
// one client connection's (alive as long as it).
struct nbdkit_backend {
  nbd::Filter* filter = nullptr;
};

namespace nbd::server::cabi {
namespace {

class CFilterConnection;

// What a C filter holds as nbdkit_next: the function table, then which Connection it calls.
// A context the filter opened itself (nbdkit_next_context_open) owns its Connection.
struct CNext {
  nbdkit_next_ops ops;
  Connection* conn = nullptr;
  std::unique_ptr<Connection> owned;
  bool finalized = false;
};
CNext* N(nbdkit_next* n) { return reinterpret_cast<CNext*>(n); }

}  // namespace
}  // namespace nbd::server::cabi

struct nbdkit_context {
  nbdkit_backend* backend = nullptr;
  nbd::OpenParams params;
  const nbd::NextOpen* next_open = nullptr;              // during open only
  std::unique_ptr<nbd::Connection> below;                // during open: what next_open opened
  nbd::server::cabi::CFilterConnection* conn = nullptr;  // after open
};

namespace nbd::server::cabi {
namespace {

// A failure of the layer below, as the C filter sees it: the message goes into the calling
// callback's scope (logged if the filter recovers, its error if it gives up).
void report(const Error& e, int* err) {
  record_error(e.message);
  if (err)
    *err = e.errnum ? e.errnum : EIO;
  else
    record_errno(e.errnum);
}

// Runs a call into C++ from C: no exception may unwind through the filter's frames.
template <class F>
auto guarded(F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const std::exception& e) {
    return make_error(EIO, std::string("exception: ") + e.what());
  } catch (...) {
    return make_error(EIO, "unknown exception");
  }
}

template <class T, class F>
T next_value(nbdkit_next* n, T fail, int* err, F&& f) {
  auto r = guarded([&] { return f(*N(n)->conn); });
  if (!r) {
    report(r.error(), err);
    return fail;
  }
  return T(*r);
}
int next_status(nbdkit_next* n, int* err, const std::function<Status(Connection&)>& f) {
  Status s = guarded([&] { return f(*N(n)->conn); });
  if (!s) {
    report(s.error(), err);
    return -1;
  }
  return 0;
}

int n_prepare(nbdkit_next*) { return 0; }  // every context we hand out is already prepared
int n_finalize(nbdkit_next* n) {
  CNext* c = N(n);
  if (!c->owned || c->finalized) return 0;
  c->finalized = true;
  return next_status(n, nullptr, [](Connection& x) { return x.finalize(); });
}
int64_t n_get_size(nbdkit_next* n) {
  return next_value<int64_t>(n, -1, nullptr, [](Connection& c) { return c.get_size(); });
}
const char* n_export_description(nbdkit_next* n) {
  auto r = guarded([&] { return N(n)->conn->export_description(); });
  if (!r) {
    report(r.error(), nullptr);
    return nullptr;
  }
  return nbdkit_strdup_intern(r->c_str());
}
int n_block_size(nbdkit_next* n, uint32_t* mn, uint32_t* pref, uint32_t* mx) {
  auto r = guarded([&] { return N(n)->conn->block_size(); });
  if (!r) {
    report(r.error(), nullptr);
    return -1;
  }
  *mn = r->minimum;
  *pref = r->preferred;
  *mx = r->maximum;
  return 0;
}
#define NBD_NEXT_BOOL(name)                                                         \
  int n_##name(nbdkit_next* n) {                                                    \
    return next_value<int>(n, -1, nullptr, [](Connection& c) { return c.name(); }); \
  }
NBD_NEXT_BOOL(can_write)
NBD_NEXT_BOOL(can_flush)
NBD_NEXT_BOOL(is_rotational)
NBD_NEXT_BOOL(can_trim)
NBD_NEXT_BOOL(can_fast_zero)
NBD_NEXT_BOOL(can_extents)
NBD_NEXT_BOOL(can_multi_conn)
#undef NBD_NEXT_BOOL
// Our None/Emulate/Native are upstream's 0/1/2 for zero, FUA and cache alike.
int n_can_zero(nbdkit_next* n) {
  auto r = guarded([&] { return N(n)->conn->can_zero(); });
  if (!r) return report(r.error(), nullptr), -1;
  return *r == ZeroMode::None      ? NBDKIT_ZERO_NONE
         : *r == ZeroMode::Emulate ? NBDKIT_ZERO_EMULATE
                                   : NBDKIT_ZERO_NATIVE;
}
int n_can_fua(nbdkit_next* n) {
  auto r = guarded([&] { return N(n)->conn->can_fua(); });
  if (!r) return report(r.error(), nullptr), -1;
  return *r == FuaMode::None      ? NBDKIT_FUA_NONE
         : *r == FuaMode::Emulate ? NBDKIT_FUA_EMULATE
                                  : NBDKIT_FUA_NATIVE;
}
int n_can_cache(nbdkit_next* n) {
  auto r = guarded([&] { return N(n)->conn->can_cache(); });
  if (!r) return report(r.error(), nullptr), -1;
  return *r == CacheMode::None      ? NBDKIT_CACHE_NONE
         : *r == CacheMode::Emulate ? NBDKIT_CACHE_EMULATE
                                    : NBDKIT_CACHE_NATIVE;
}
int n_pread(nbdkit_next* n, void* buf, uint32_t count, uint64_t offset, uint32_t flags, int* err) {
  return next_status(n, err, [&](Connection& c) {
    return c.pread(std::span<std::byte>(static_cast<std::byte*>(buf), count), offset, from_c_flags(flags));
  });
}
int n_pwrite(nbdkit_next* n, const void* buf, uint32_t count, uint64_t offset, uint32_t flags, int* err) {
  return next_status(n, err, [&](Connection& c) {
    return c.pwrite(std::span<const std::byte>(static_cast<const std::byte*>(buf), count), offset,
                    from_c_flags(flags));
  });
}
int n_flush(nbdkit_next* n, uint32_t flags, int* err) {
  return next_status(n, err, [&](Connection& c) { return c.flush(from_c_flags(flags)); });
}
int n_trim(nbdkit_next* n, uint32_t count, uint64_t offset, uint32_t flags, int* err) {
  return next_status(n, err, [&](Connection& c) { return c.trim(count, offset, from_c_flags(flags)); });
}
int n_zero(nbdkit_next* n, uint32_t count, uint64_t offset, uint32_t flags, int* err) {
  return next_status(n, err, [&](Connection& c) { return c.zero(count, offset, from_c_flags(flags)); });
}
int n_extents(nbdkit_next* n, uint32_t count, uint64_t offset, uint32_t flags, nbdkit_extents* e, int* err) {
  return next_status(n, err,
                     [&](Connection& c) { return c.extents(count, offset, from_c_flags(flags), *e->list); });
}
int n_cache(nbdkit_next* n, uint32_t count, uint64_t offset, uint32_t flags, int* err) {
  return next_status(n, err, [&](Connection& c) { return c.cache(count, offset, from_c_flags(flags)); });
}

const nbdkit_next_ops kNextOps = {
    n_prepare,    n_finalize,       n_get_size,      n_export_description,
    n_block_size, n_can_write,      n_can_flush,     n_is_rotational,
    n_can_trim,   n_can_zero,       n_can_fast_zero, n_can_extents,
    n_can_fua,    n_can_multi_conn, n_can_cache,     n_pread,
    n_pwrite,     n_flush,          n_trim,          n_zero,
    n_extents,    n_cache,
};

std::unique_ptr<CNext> make_next(Connection* c) {
  auto n = std::make_unique<CNext>();
  n->ops = kNextOps;
  n->conn = c;
  return n;
}

// Runs one filter callback returning an integer or pointer with ctx as the current client; a
// negative (or null) result becomes the Error. For the data callbacks, err is their *err.
template <class F>
auto call(ClientContext* ctx, const char* what, F&& f, int* err = nullptr) -> Result<decltype(f())> {
  ClientScope client(ctx);
  CallScope scope;
  auto r = f();
  bool failed;
  if constexpr (std::is_pointer_v<decltype(r)>)
    failed = r == nullptr;
  else
    failed = r < 0;
  if (failed) {
    if (err && *err) record_errno(*err);
    return scope.failure(what, false, 0);
  }
  return r;
}
template <class T>
Status status(Result<T> r) {
  if (!r) return std::move(r).error();
  return ok();
}

class CFilterConnection : public FilterConnection {
 public:
  CFilterConnection(const nbdkit_filter& f, std::unique_ptr<Connection> below,
                    std::unique_ptr<ClientContext> cctx, std::unique_ptr<nbdkit_context> ctx, void* h)
      : FilterConnection(std::move(below)), f_(f), cctx_(std::move(cctx)), ctx_(std::move(ctx)), h_(h) {
    next_ = make_next(&next());
    ctx_->conn = this;
  }
  ~CFilterConnection() override {
    if (!f_.close) return;
    ClientScope client(cctx_.get());
    CallScope scope;
    f_.close(h_);
  }

  // nbdkit_context_set_next after open: n's connection becomes ours; n then stands for the old
  // one, which the filter finalizes and closes.
  nbdkit_next* swap_next(CNext* n) {
    std::unique_ptr<Connection> old = replace_next(std::move(n->owned));
    n->owned = std::move(old);
    n->conn = n->owned.get();
    n->finalized = false;
    next_->conn = &next();
    return reinterpret_cast<nbdkit_next*>(n);
  }

  Status prepare(bool readonly) override {
    if (!f_.prepare) return ok();
    return status(run("prepare", [&] { return f_.prepare(nx(), h_, readonly); }));
  }
  Status finalize() override {
    if (!f_.finalize) return ok();
    return status(run("finalize", [&] { return f_.finalize(nx(), h_); }));
  }

  Result<uint64_t> get_size() override {
    if (!f_.get_size) return FilterConnection::get_size();
    NBD_TRY_ASSIGN(int64_t n, run("get_size", [&] { return f_.get_size(nx(), h_); }));
    return uint64_t(n);
  }
  Result<BlockSize> block_size() override {
    if (!f_.block_size) return FilterConnection::block_size();
    BlockSize b;
    NBD_TRY(run("block_size", [&] { return f_.block_size(nx(), h_, &b.minimum, &b.preferred, &b.maximum); }));
    return b;
  }
  Result<std::string> export_description() override {
    if (!f_.export_description) return FilterConnection::export_description();
    ClientScope client(cctx_.get());
    CallScope scope;
    const char* d = f_.export_description(nx(), h_);
    return std::string(d ? d : "");
  }
#define NBD_FILTER_BOOL(name)                                             \
  Result<bool> name() override {                                          \
    if (!f_.name) return FilterConnection::name();                        \
    NBD_TRY_ASSIGN(int r, run(#name, [&] { return f_.name(nx(), h_); })); \
    return r != 0;                                                        \
  }
  NBD_FILTER_BOOL(can_write)
  NBD_FILTER_BOOL(can_flush)
  NBD_FILTER_BOOL(is_rotational)
  NBD_FILTER_BOOL(can_trim)
  NBD_FILTER_BOOL(can_fast_zero)
  NBD_FILTER_BOOL(can_extents)
  NBD_FILTER_BOOL(can_multi_conn)
#undef NBD_FILTER_BOOL
  Result<ZeroMode> can_zero() override {
    if (!f_.can_zero) return FilterConnection::can_zero();
    NBD_TRY_ASSIGN(int r, run("can_zero", [&] { return f_.can_zero(nx(), h_); }));
    return r == NBDKIT_ZERO_NONE      ? ZeroMode::None
           : r == NBDKIT_ZERO_EMULATE ? ZeroMode::Emulate
                                      : ZeroMode::Native;
  }
  Result<FuaMode> can_fua() override {
    if (!f_.can_fua) return FilterConnection::can_fua();
    NBD_TRY_ASSIGN(int r, run("can_fua", [&] { return f_.can_fua(nx(), h_); }));
    return r == NBDKIT_FUA_NONE      ? FuaMode::None
           : r == NBDKIT_FUA_EMULATE ? FuaMode::Emulate
                                     : FuaMode::Native;
  }
  Result<CacheMode> can_cache() override {
    if (!f_.can_cache) return FilterConnection::can_cache();
    NBD_TRY_ASSIGN(int r, run("can_cache", [&] { return f_.can_cache(nx(), h_); }));
    return r == NBDKIT_CACHE_NONE      ? CacheMode::None
           : r == NBDKIT_CACHE_EMULATE ? CacheMode::Emulate
                                       : CacheMode::Native;
  }

  Status pread(std::span<std::byte> buf, uint64_t offset, uint32_t flags) override {
    if (!f_.pread) return FilterConnection::pread(buf, offset, flags);
    return chunks(buf.size(), offset, [&](uint64_t done, uint32_t n, uint64_t off) {
      return data("pread", [&](int* e) {
        return f_.pread(nx(), h_, buf.data() + done, n, off, to_c_flags(flags), e);
      });
    });
  }
  Status pwrite(std::span<const std::byte> buf, uint64_t offset, uint32_t flags) override {
    if (!f_.pwrite) return FilterConnection::pwrite(buf, offset, flags);
    return chunks(buf.size(), offset, [&](uint64_t done, uint32_t n, uint64_t off) {
      return data("pwrite", [&](int* e) {
        return f_.pwrite(nx(), h_, buf.data() + done, n, off, to_c_flags(flags), e);
      });
    });
  }
  Status flush(uint32_t flags) override {
    if (!f_.flush) return FilterConnection::flush(flags);
    return data("flush", [&](int* e) { return f_.flush(nx(), h_, to_c_flags(flags), e); });
  }
  Status trim(uint64_t count, uint64_t offset, uint32_t flags) override {
    if (!f_.trim) return FilterConnection::trim(count, offset, flags);
    return chunks(count, offset, [&](uint64_t, uint32_t n, uint64_t off) {
      return data("trim", [&](int* e) { return f_.trim(nx(), h_, n, off, to_c_flags(flags), e); });
    });
  }
  Status zero(uint64_t count, uint64_t offset, uint32_t flags) override {
    if (!f_.zero) return FilterConnection::zero(count, offset, flags);
    return chunks(count, offset, [&](uint64_t, uint32_t n, uint64_t off) {
      return data("zero", [&](int* e) { return f_.zero(nx(), h_, n, off, to_c_flags(flags), e); });
    });
  }
  Status extents(uint64_t count, uint64_t offset, uint32_t flags, ExtentList& list) override {
    if (!f_.extents) return FilterConnection::extents(count, offset, flags, list);
    nbdkit_extents e{&list, std::nullopt};
    uint32_t n = uint32_t(std::min<uint64_t>(count, kMaxChunk));
    NBD_TRY(data("extents",
                 [&](int* err) { return f_.extents(nx(), h_, n, offset, to_c_flags(flags), &e, err); }));
    if (list.next_offset() <= offset)
      return make_error(EIO, "extents: the filter reported no extent at the offset");
    return ok();
  }
  Status cache(uint64_t count, uint64_t offset, uint32_t flags) override {
    if (!f_.cache) return FilterConnection::cache(count, offset, flags);
    return chunks(count, offset, [&](uint64_t, uint32_t n, uint64_t off) {
      return data("cache", [&](int* e) { return f_.cache(nx(), h_, n, off, to_c_flags(flags), e); });
    });
  }

 private:
  nbdkit_next* nx() { return reinterpret_cast<nbdkit_next*>(next_.get()); }
  template <class F>
  auto run(const char* what, F&& f) -> Result<decltype(f())> {
    return call(cctx_.get(), what, std::forward<F>(f));
  }
  template <class F>
  Status data(const char* what, F&& f) {
    int err = 0;
    return status(call(
        cctx_.get(), what, [&] { return f(&err); }, &err));
  }

  const nbdkit_filter& f_;
  std::unique_ptr<ClientContext> cctx_;
  std::unique_ptr<nbdkit_context> ctx_;
  std::unique_ptr<CNext> next_;
  void* h_;
};

// One loaded C filter: a copy of its struct and the record the server sees.
struct Slot {
  nbdkit_filter f{};
  std::string path;
  std::string description;
  std::vector<ParamHelp> params;
  FilterInfo info{};
};
constexpr int kSlots = 8;
Slot g_slots[kSlots];
int g_used = 0;

// What the process-wide next functions call: set by the adapter around each callback.
thread_local const NextConfig* t_next_config = nullptr;
thread_local const NextExports* t_next_exports = nullptr;
thread_local bool t_is_tls = false;

int next_config(nbdkit_backend*, const char* key, const char* value) {
  if (!t_next_config) {
    record_error("next_config called outside of config");
    return -1;
  }
  Status s = guarded([&] { return (*t_next_config)(key, value); });
  if (!s) return report(s.error(), nullptr), -1;
  return 0;
}
// Our core completes, preconnects and configures every layer itself, in order.
int next_config_complete(nbdkit_backend*) { return 0; }
int next_preconnect(nbdkit_backend*, int) { return 0; }
int next_list_exports(nbdkit_backend*, int readonly, nbdkit_exports* x) {
  if (!t_next_exports) {
    record_error("next_list_exports called outside of list_exports");
    return -1;
  }
  auto r = guarded([&] { return t_next_exports->list_exports(readonly, t_is_tls); });
  if (!r) return report(r.error(), nullptr), -1;
  for (auto& e : *r) x->entries.push_back(std::move(e));
  return 0;
}
const char* next_default_export(nbdkit_backend*, int readonly) {
  if (!t_next_exports) {
    record_error("next_default_export called outside of list_exports or default_export");
    return nullptr;
  }
  auto r = guarded([&] { return t_next_exports->default_export(readonly, t_is_tls); });
  if (!r) return report(r.error(), nullptr), nullptr;
  return nbdkit_strdup_intern(r->c_str());
}

int next_open(nbdkit_context* c, int readonly, const char* exportname) {
  if (!c->next_open) {
    record_error("next_open called outside of open");
    return -1;
  }
  if (c->below) {
    record_error("next_open called twice");
    return -1;
  }
  OpenParams p = c->params;
  p.readonly = readonly != 0;
  p.export_name = exportname ? exportname : "";
  auto r = guarded([&] { return (*c->next_open)(p); });
  if (!r) return report(r.error(), nullptr), -1;
  c->below = std::move(*r);
  return 0;
}

class CFilter : public Filter {
 public:
  explicit CFilter(const Slot& s) : f_(s.f) { backend_.filter = this; }

  Status config(std::string_view key, std::string_view value, const NextConfig& next) override {
    if (!f_.config) return next(key, value);
    // Upstream passes argv itself, so filters keep these pointers: they live as long as we do.
    const char* k = args_.emplace_back(key).c_str();
    const char* v = args_.emplace_back(value).c_str();
    const NextConfig* saved = t_next_config;
    t_next_config = &next;
    auto r = call(nullptr, "config", [&] { return f_.config(next_config, &backend_, k, v); });
    t_next_config = saved;
    return status(std::move(r));
  }
  Status config_complete() override {
    if (!f_.config_complete) return ok();
    return status(call(nullptr, "config_complete",
                       [&] { return f_.config_complete(next_config_complete, &backend_); }));
  }
  ThreadModel thread_model() override {
    if (!f_.thread_model) return ThreadModel::Parallel;
    auto r = call(nullptr, "thread_model", [&] { return f_.thread_model(); });
    if (!r) {
      log::error("thread_model: %s", r.error().message.c_str());
      return ThreadModel::SerializeConnections;
    }
    return ThreadModel(std::clamp(*r, 0, int(ThreadModel::Parallel)));
  }
  Status get_ready(ThreadModel model) override {
    if (!f_.get_ready) return ok();
    return status(call(nullptr, "get_ready", [&] { return f_.get_ready(int(model)); }));
  }
  Status after_fork() override {
    if (!f_.after_fork) return ok();
    return status(call(nullptr, "after_fork", [&] { return f_.after_fork(&backend_); }));
  }
  Status preconnect(const Peer& peer, bool readonly) override {
    if (!f_.preconnect) return ok();
    ClientContext ctx;
    ctx.peer = peer;
    return status(
        call(&ctx, "preconnect", [&] { return f_.preconnect(next_preconnect, &backend_, readonly); }));
  }
  Result<std::vector<ExportInfo>> list_exports(bool readonly, bool is_tls, const NextExports& next) override {
    if (!f_.list_exports) return next.list_exports(readonly, is_tls);
    ClientContext ctx;
    ctx.is_tls = is_tls;
    nbdkit_exports x;
    {
      ExportsScope es(next, is_tls);
      NBD_TRY(call(&ctx, "list_exports",
                   [&] { return f_.list_exports(next_list_exports, &backend_, readonly, is_tls, &x); }));
    }
    std::vector<ExportInfo> out;
    for (auto& e : x.entries) {
      if (e) {
        out.push_back(std::move(*e));
        continue;
      }
      NBD_TRY_ASSIGN(std::string name, default_export(readonly, is_tls, next));
      out.push_back({std::move(name), ""});
    }
    return out;
  }
  Result<std::string> default_export(bool readonly, bool is_tls, const NextExports& next) override {
    if (!f_.default_export) return next.default_export(readonly, is_tls);
    ClientContext ctx;
    ctx.is_tls = is_tls;
    ExportsScope es(next, is_tls);
    NBD_TRY_ASSIGN(const char* name, call(&ctx, "default_export", [&] {
                     return f_.default_export(next_default_export, &backend_, readonly, is_tls);
                   }));
    return std::string(name);
  }
  Result<std::unique_ptr<Connection>> open(const OpenParams& params, const NextOpen& next) override {
    auto cctx = std::make_unique<ClientContext>();
    cctx->export_name = params.export_name;
    cctx->has_export_name = true;
    cctx->is_tls = params.is_tls;
    cctx->peer = params.peer;
    auto ctx = std::make_unique<nbdkit_context>();
    ctx->backend = &backend_;
    ctx->params = params;
    ctx->next_open = &next;
    void* h = NBDKIT_HANDLE_NOT_NEEDED;
    if (f_.open) {
      auto r = call(cctx.get(), "open", [&] {
        return f_.open(next_open, ctx.get(), params.readonly, params.export_name.c_str(), params.is_tls);
      });
      if (!r) return std::move(r).error();
      h = *r;
    } else {
      NBD_TRY_ASSIGN(ctx->below, next(params));
    }
    ctx->next_open = nullptr;
    if (!ctx->below) {
      if (f_.close) {
        ClientScope client(cctx.get());
        CallScope scope;
        f_.close(h);
      }
      return make_error(
          EIO, std::string("filter '") + f_.name + "': open did not open the layer below (next_open)");
    }
    auto below = std::move(ctx->below);
    return std::unique_ptr<Connection>(
        std::make_unique<CFilterConnection>(f_, std::move(below), std::move(cctx), std::move(ctx), h));
  }
  std::vector<std::string> dump_filter() override {
    std::vector<std::string> out{"c_filter_api_version=" + std::to_string(f_._api_version)};
    if (f_._version) out.push_back(std::string("c_filter_built_with=") + f_._version);
    if (f_.longname) out.push_back(std::string("longname=") + f_.longname);
    return out;
  }
  void unload() override {
    CallScope scope;
    if (f_.cleanup) f_.cleanup(&backend_);
    if (f_.unload) f_.unload();
  }

 private:
  struct ExportsScope {
    ExportsScope(const NextExports& n, bool tls) : saved(t_next_exports), saved_tls(t_is_tls) {
      t_next_exports = &n;
      t_is_tls = tls;
    }
    ~ExportsScope() {
      t_next_exports = saved;
      t_is_tls = saved_tls;
    }
    const NextExports* saved;
    bool saved_tls;
  };

  const nbdkit_filter& f_;
  nbdkit_backend backend_;
  std::deque<std::string> args_;
};

template <int N>
std::unique_ptr<Filter> make_filter() {
  return std::make_unique<CFilter>(g_slots[N]);
}
std::unique_ptr<Filter> (*const kFactories[kSlots])() = {make_filter<0>, make_filter<1>, make_filter<2>,
                                                         make_filter<3>, make_filter<4>, make_filter<5>,
                                                         make_filter<6>, make_filter<7>};

// "1.32.5" → "1.32": fields after _version may move between upstream minor releases.
std::string major_minor(const char* v) {
  std::string s(v ? v : "");
  size_t dot = s.find('.');
  if (dot == std::string::npos) return s;
  size_t dot2 = s.find('.', dot + 1);
  return dot2 == std::string::npos ? s : s.substr(0, dot2);
}

}  // namespace

Result<const FilterInfo*> load_c_filter(nbdkit_filter* (*init)(), const std::string& path) {
  if (g_used == kSlots) return make_error(EMFILE, "filter '" + path + "': too many C filters loaded");
  const nbdkit_filter* src = init();
  if (!src) return make_error(EINVAL, "filter '" + path + "': filter_init returned NULL");
  if (src->_api_version != NBDKIT_FILTER_API_VERSION)
    return make_error(EINVAL, "filter '" + path + "': filter API version " +
                                  std::to_string(src->_api_version) +
                                  " is not supported (this nbdkit knows version " +
                                  std::to_string(NBDKIT_FILTER_API_VERSION) + ")");
  if (major_minor(src->_version) != major_minor(NBDKIT_VERSION_STRING))
    return make_error(EINVAL, "filter '" + path + "' was built with nbdkit " +
                                  (src->_version ? src->_version : "(unknown)") +
                                  " headers; this nbdkit takes " + major_minor(NBDKIT_VERSION_STRING) +
                                  ".x filters (rebuild it)");
  Slot& s = g_slots[g_used];
  s.f = *src;
  if (!s.f.name || !*s.f.name) return make_error(EINVAL, "filter '" + path + "' has no name");
  if (s.f.load) {
    CallScope scope;
    s.f.load();
  }
  s.path = path;
  const char* d = s.f.longname ? s.f.longname : s.f.description ? s.f.description : s.f.name;
  s.description = std::string(d, strcspn(d, "\n"));
  s.params = split_config_help(s.f.config_help);
  s.info = FilterInfo{s.f.name, s.description, s.params, kFactories[g_used]};
  ++g_used;
  return &s.info;
}

std::optional<Result<const FilterInfo*>> try_load_c_filter(const std::string& path) {
  void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!h) return std::nullopt;
  if (dlsym(h, "nbdkit_cpp_filter_info") || !dlsym(h, "filter_init")) {
    dlclose(h);
    return std::nullopt;
  }
  auto r = load_c_filter(reinterpret_cast<nbdkit_filter* (*)()>(dlsym(h, "filter_init")), path);
  if (!r) dlclose(h);
  return r;
}

}  // namespace nbd::server::cabi

// The filter-only nbdkit_* functions.
extern "C" {

NBDKIT_DLL_PUBLIC struct nbdkit_extents* nbdkit_extents_full(nbdkit_next* next, uint32_t count,
                                                             uint64_t offset, uint32_t flags, int* err) {
  uint64_t end = offset + count;
  nbdkit_extents* e = nbdkit_extents_new(offset, end);
  if (!e) {
    *err = errno;
    return nullptr;
  }
  flags &= ~NBDKIT_FLAG_REQ_ONE;
  while (e->list->next_offset() < end) {
    uint64_t at = e->list->next_offset();
    if (next->extents(next, uint32_t(end - at), at, flags, e, err) == -1) {
      nbdkit_extents_free(e);
      return nullptr;
    }
    if (e->list->next_offset() <= at) {
      nbdkit_error("nbdkit_extents_full: the layer below reported no extent at %llu", (unsigned long long)at);
      *err = EIO;
      nbdkit_extents_free(e);
      return nullptr;
    }
  }
  return e;
}

// Extents merged so that each is a multiple of align: whole aligned blocks inside one extent
// keep its type; a block spanning several gets the types they all share (data wins).
NBDKIT_DLL_PUBLIC int nbdkit_extents_aligned(nbdkit_next* next, uint32_t count, uint64_t offset,
                                             uint32_t flags, uint32_t align, struct nbdkit_extents* out,
                                             int* err) {
  if (align == 0 || (align & (align - 1)) || offset % align || count % align) {
    nbdkit_error("nbdkit_extents_aligned: offset and count must be multiples of the power of 2 %u", align);
    *err = EINVAL;
    return -1;
  }
  nbdkit_extents* all = nbdkit_extents_full(next, count, offset, flags, err);
  if (!all) return -1;
  const auto& xs = all->list->extents();
  uint64_t end = offset + count, pos = offset;
  size_t i = 0;
  int r = 0;
  while (pos < end && r == 0) {
    while (i < xs.size() && xs[i].offset + xs[i].length <= pos) ++i;
    if (i == xs.size()) break;
    uint64_t e_end = std::min(xs[i].offset + xs[i].length, end);
    uint64_t whole = (e_end - pos) / align * align;
    if (whole) {
      r = nbdkit_add_extent(out, pos, whole, uint32_t(xs[i].flags));
      pos += whole;
    } else {
      uint32_t type = uint32_t(xs[i].flags);
      for (size_t j = i; j < xs.size() && xs[j].offset < pos + align; ++j) type &= uint32_t(xs[j].flags);
      r = nbdkit_add_extent(out, pos, align, type);
      pos += align;
    }
    if (flags & NBDKIT_FLAG_REQ_ONE) break;
  }
  nbdkit_extents_free(all);
  if (r) *err = errno ? errno : EINVAL;
  return r;
}

NBDKIT_DLL_PUBLIC nbdkit_backend* nbdkit_context_get_backend(nbdkit_context* context) {
  return context ? context->backend : nullptr;
}

NBDKIT_DLL_PUBLIC nbdkit_next* nbdkit_next_context_open(nbdkit_backend* backend, int readonly,
                                                        const char* exportname, int /*shared*/) {
  namespace c = nbd::server::cabi;
  if (!backend || !backend->filter) {
    nbdkit_error("nbdkit_next_context_open: no backend");
    return nullptr;
  }
  nbd::OpenParams p{.readonly = readonly != 0, .export_name = exportname ? exportname : ""};
  if (c::ClientContext* cc = c::current_client()) {
    p.is_tls = cc->is_tls;
    p.peer = cc->peer;
    p.client_address = cc->peer.address;
  }
  auto r = c::guarded([&] { return backend->filter->open_below(p); });
  if (!r) {
    c::report(r.error(), nullptr);
    return nullptr;
  }
  auto n = c::make_next(r->get());
  n->owned = std::move(*r);
  return reinterpret_cast<nbdkit_next*>(n.release());
}

NBDKIT_DLL_PUBLIC void nbdkit_next_context_close(nbdkit_next* next) { delete nbd::server::cabi::N(next); }

NBDKIT_DLL_PUBLIC nbdkit_next* nbdkit_context_set_next(nbdkit_context* context, nbdkit_next* next) {
  namespace c = nbd::server::cabi;
  if (!context || !next || !c::N(next)->owned) {
    nbdkit_error("nbdkit_context_set_next: only a context from nbdkit_next_context_open can be set");
    return nullptr;
  }
  c::CNext* n = c::N(next);
  if (context->conn) return context->conn->swap_next(n);
  // During open: it becomes what the connection will wrap; the one next_open opened (if any)
  // is handed back in n.
  std::unique_ptr<nbd::Connection> old = std::move(context->below);
  context->below = std::move(n->owned);
  if (!old) {
    delete n;
    return nullptr;
  }
  n->owned = std::move(old);
  n->conn = n->owned.get();
  n->finalized = false;
  return next;
}

}  // extern "C"
