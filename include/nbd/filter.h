// SPDX-License-Identifier: BSD-3-Clause
// The C++ filter API. A filter sits between the client and the plugin: a process-wide Filter
// (configuration) and, per connection, a Connection wrapped around `next`, the connection
// below it. FilterConnection forwards every method it does not override. Keys a filter's
// config() does not own are passed on down the stack to the plugin. The first --filter on the
// command line is closest to the client.
#pragma once

#include <functional>
#include <memory>
#include <utility>

#include "nbd/plugin.h"

namespace nbd {

// Opens the layer below (the next filter, or the plugin) with the given parameters. What it
// returns is the core's boundary of that layer: already prepared, its can_* asked once and
// cached, every request checked against them, and what it lacks emulated. Each call opens a
// new, independent context.
using NextOpen = std::function<Result<std::unique_ptr<Connection>>(const OpenParams&)>;

// Base for per-connection filter objects: every method forwards to next().
// prepare/finalize do not forward: the core calls them on every layer in order.
class FilterConnection : public Connection {
 public:
  explicit FilterConnection(std::unique_ptr<Connection> next) : next_(std::move(next)) {}
  Connection& next() { return *next_; }
  // Swaps in a new context for the layer below (retry's reopen) and returns the old one, which
  // the filter then owns (finalize it before dropping it). Not safe while other threads use
  // next(): the filter must hold off its own requests while swapping.
  std::unique_ptr<Connection> replace_next(std::unique_ptr<Connection> n) {
    std::swap(n, next_);
    return n;
  }
  Connection* lower_layer() override { return next_.get(); }

  Result<uint64_t> get_size() override { return next_->get_size(); }
  Result<BlockSize> block_size() override { return next_->block_size(); }
  Result<bool> can_write() override { return next_->can_write(); }
  Result<bool> can_flush() override { return next_->can_flush(); }
  Result<bool> is_rotational() override { return next_->is_rotational(); }
  Result<bool> can_trim() override { return next_->can_trim(); }
  Result<ZeroMode> can_zero() override { return next_->can_zero(); }
  Result<bool> can_fast_zero() override { return next_->can_fast_zero(); }
  Result<bool> can_extents() override { return next_->can_extents(); }
  Result<FuaMode> can_fua() override { return next_->can_fua(); }
  Result<bool> can_multi_conn() override { return next_->can_multi_conn(); }
  Result<CacheMode> can_cache() override { return next_->can_cache(); }
  Result<std::string> export_description() override { return next_->export_description(); }

  Status pread(std::span<std::byte> buf, uint64_t offset, uint32_t flags) override {
    return next_->pread(buf, offset, flags);
  }
  Status pwrite(std::span<const std::byte> buf, uint64_t offset, uint32_t flags) override {
    return next_->pwrite(buf, offset, flags);
  }
  Status flush(uint32_t flags) override { return next_->flush(flags); }
  Status trim(uint64_t count, uint64_t offset, uint32_t flags) override {
    return next_->trim(count, offset, flags);
  }
  Status zero(uint64_t count, uint64_t offset, uint32_t flags) override {
    return next_->zero(count, offset, flags);
  }
  Status extents(uint64_t count, uint64_t offset, uint32_t flags, ExtentList& extents) override {
    return next_->extents(count, offset, flags, extents);
  }
  Status cache(uint64_t count, uint64_t offset, uint32_t flags) override {
    return next_->cache(count, offset, flags);
  }

 private:
  std::unique_ptr<Connection> next_;
};

// Offers one KEY=VALUE to the layers below (the next filter, or the plugin).
using NextConfig = std::function<Status(std::string_view key, std::string_view value)>;

// Lets a filter list or name exports by asking the layer below.
struct NextExports {
  std::function<Result<std::vector<ExportInfo>>(bool readonly, bool is_tls)> list_exports;
  std::function<Result<std::string>(bool readonly, bool is_tls)> default_export;
};

class Filter {
 public:
  virtual ~Filter() = default;

  // Returns true if the filter owns the key (consumed), false to pass it on to the plugin.
  virtual Result<bool> config(std::string_view /*key*/, std::string_view /*value*/) { return false; }
  // The full form, as upstream's .config with next: consume the key (return without calling
  // next), forward it (next(key, value)), or rewrite it (next(other_key, other_value), even
  // several times). The default consumes what config(key, value) owns and forwards the rest.
  virtual Status config(std::string_view key, std::string_view value, const NextConfig& next) {
    NBD_TRY_ASSIGN(bool owned, config(key, value));
    return owned ? ok() : next(key, value);
  }
  virtual Status config_complete() { return ok(); }
  virtual ThreadModel thread_model() { return ThreadModel::Parallel; }
  // server_model: the thread model the whole stack runs under (the strictest of the plugin's
  // and every filter's), as upstream passes it to a filter's .get_ready.
  virtual Status get_ready(ThreadModel /*server_model*/) { return ok(); }
  virtual Status after_fork() { return ok(); }
  // Before the handshake, before a byte is read from the client: an error refuses it.
  virtual Status preconnect(const Peer& /*peer*/, bool /*readonly*/) { return ok(); }
  virtual Result<std::vector<ExportInfo>> list_exports(bool readonly, bool is_tls, const NextExports& next) {
    return next.list_exports(readonly, is_tls);
  }
  virtual Result<std::string> default_export(bool readonly, bool is_tls, const NextExports& next) {
    return next.default_export(readonly, is_tls);
  }
  // Opens this filter's per-connection object. The default adds no layer: it returns the
  // connection below unchanged. Filters that act on requests wrap it in a FilterConnection.
  virtual Result<std::unique_ptr<Connection>> open(const OpenParams& params, const NextOpen& next) {
    return next(params);
  }
  virtual std::vector<std::string> dump_filter() { return {}; }
  virtual void unload() {}

  // Opens a context on the layer below outside of any open(): for background work with no
  // client (readahead, scan) or a context shared by all clients. Usable from get_ready on,
  // until unload. The params say what the context is (readonly, export name); connection_id
  // 0 means no client. The filter owns the result and finalizes it before dropping it.
  Result<std::unique_ptr<Connection>> open_below(const OpenParams& params) const {
    if (!below_) return make_error(EINVAL, "open_below: the filter is not part of a running stack yet");
    return below_(params);
  }
  // Set by the core when it builds the stack.
  void bind_below_for_core(NextOpen below) { below_ = std::move(below); }

 private:
  NextOpen below_;
};

struct FilterInfo {
  std::string_view name;         // "offset"
  std::string_view description;  // one line
  std::span<const ParamHelp> params;
  std::unique_ptr<Filter> (*factory)();
};

}  // namespace nbd

#define NBD_EXPORT_FILTER(info)                                                                         \
  NBD_CPP_ABI_RECORD(::nbd::FilterInfo)                                                                 \
  extern "C" __attribute__((visibility("default"))) const ::nbd::FilterInfo* nbdkit_cpp_filter_info() { \
    return &(info);                                                                                     \
  }
