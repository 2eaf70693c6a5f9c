// SPDX-License-Identifier: BSD-3-Clause
// Tracing wrapper for one layer of the connection chain (see trace.h).
#include "server/trace.h"

#include <cinttypes>
#include <cstdarg>
#include <cstdio>

#include "nbd/filter.h"
#include "nbd/log.h"

namespace nbd::server {
namespace {

DebugFlag g_controlpath{"nbdkit", "backend.controlpath", 1};
DebugFlag g_datapath{"nbdkit", "backend.datapath", 1};

int bit(uint32_t flags, uint32_t b) { return (flags & b) ? 1 : 0; }

// -v is on and the control path (open, config, can_*, close ...) is traced.
bool trace_controlpath() { return log::verbose() && g_controlpath; }
// Some layer needs a tracing wrapper.
bool trace_enabled() { return log::verbose() && (g_controlpath || g_datapath); }

class TracedConnection final : public FilterConnection {
  template <typename F>
  auto control(const char* what, F&& f) -> decltype(f()) {
    if (control_) log::debug("%s: %s", name_.c_str(), what);
    return f();
  }

 public:
  TracedConnection(std::string name, std::unique_ptr<Connection> next)
      : FilterConnection(std::move(next)),
        name_(std::move(name)),
        control_(bool(g_controlpath)),
        data_(bool(g_datapath)) {}
  ~TracedConnection() override {
    if (control_) log::debug("%s: close", name_.c_str());
  }

  Result<uint64_t> get_size() override {
    return control("get_size", [&] { return next().get_size(); });
  }
  Result<BlockSize> block_size() override {
    return control("block_size", [&] { return next().block_size(); });
  }
  Result<bool> can_write() override {
    return control("can_write", [&] { return next().can_write(); });
  }
  Result<bool> can_flush() override {
    return control("can_flush", [&] { return next().can_flush(); });
  }
  Result<bool> is_rotational() override {
    return control("is_rotational", [&] { return next().is_rotational(); });
  }
  Result<bool> can_trim() override {
    return control("can_trim", [&] { return next().can_trim(); });
  }
  Result<ZeroMode> can_zero() override {
    return control("can_zero", [&] { return next().can_zero(); });
  }
  Result<bool> can_fast_zero() override {
    return control("can_fast_zero", [&] { return next().can_fast_zero(); });
  }
  Result<bool> can_extents() override {
    return control("can_extents", [&] { return next().can_extents(); });
  }
  Result<FuaMode> can_fua() override {
    return control("can_fua", [&] { return next().can_fua(); });
  }
  Result<bool> can_multi_conn() override {
    return control("can_multi_conn", [&] { return next().can_multi_conn(); });
  }
  Result<CacheMode> can_cache() override {
    return control("can_cache", [&] { return next().can_cache(); });
  }
  Result<std::string> export_description() override {
    return control("export_description", [&] { return next().export_description(); });
  }

  Status pread(std::span<std::byte> buf, uint64_t offset, uint32_t flags) override {
    if (data_) log::debug("%s: pread count=%zu offset=%" PRIu64, name_.c_str(), buf.size(), offset);
    return next().pread(buf, offset, flags);
  }
  Status pwrite(std::span<const std::byte> buf, uint64_t offset, uint32_t flags) override {
    if (data_)
      log::debug("%s: pwrite count=%zu offset=%" PRIu64 " fua=%d", name_.c_str(), buf.size(), offset,
                 bit(flags, kFua));
    return next().pwrite(buf, offset, flags);
  }
  Status flush(uint32_t flags) override {
    if (data_) log::debug("%s: flush", name_.c_str());
    return next().flush(flags);
  }
  Status trim(uint64_t count, uint64_t offset, uint32_t flags) override {
    if (data_)
      log::debug("%s: trim count=%" PRIu64 " offset=%" PRIu64 " fua=%d", name_.c_str(), count, offset,
                 bit(flags, kFua));
    return next().trim(count, offset, flags);
  }
  Status zero(uint64_t count, uint64_t offset, uint32_t flags) override {
    if (data_)
      log::debug("%s: zero count=%" PRIu64 " offset=%" PRIu64 " may_trim=%d fua=%d fast=%d", name_.c_str(),
                 count, offset, bit(flags, kMayTrim), bit(flags, kFua), bit(flags, kFastZero));
    return next().zero(count, offset, flags);
  }
  Status extents(uint64_t count, uint64_t offset, uint32_t flags, ExtentList& extents) override {
    if (data_)
      log::debug("%s: extents count=%" PRIu64 " offset=%" PRIu64 " req_one=%d", name_.c_str(), count, offset,
                 bit(flags, kReqOne));
    return next().extents(count, offset, flags, extents);
  }
  Status cache(uint64_t count, uint64_t offset, uint32_t flags) override {
    if (data_) log::debug("%s: cache count=%" PRIu64 " offset=%" PRIu64, name_.c_str(), count, offset);
    return next().cache(count, offset, flags);
  }
  // Transparent to the lifecycle: the wrapped layer is prepared and finalized, and the layer
  // below it is the wrapped layer's.
  Status prepare(bool readonly) override {
    return control("prepare", [&] { return next().prepare(readonly); });
  }
  Status finalize() override {
    return control("finalize", [&] { return next().finalize(); });
  }
  Connection* lower_layer() override { return next().lower_layer(); }

 private:
  std::string name_;
  bool control_, data_;
};

}  // namespace

void trace_call(std::string_view name, const char* fmt, ...) {
  if (!trace_controlpath()) return;
  char what[512];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  log::debug("%.*s: %s", int(name.size()), name.data(), what);
}

std::unique_ptr<Connection> traced(std::string name, std::unique_ptr<Connection> c) {
  if (!trace_enabled()) return c;
  return std::make_unique<TracedConnection>(std::move(name), std::move(c));
}

}  // namespace nbd::server
