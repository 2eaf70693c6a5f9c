// SPDX-License-Identifier: BSD-3-Clause
// Default method bodies of Connection, Plugin and ExtentList (include/nbd/plugin.h).
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <vector>

#include "nbd/plugin.h"

namespace nbd {
namespace {
std::mutex g_shutdown_mu;
std::condition_variable g_shutdown_cv;
bool g_shutting_down = false;

// Every DebugFlag alive in the process. Flags are defined at namespace scope, so they register
// during static initialisation (or dlopen) and leave at exit (or dlclose).
std::mutex& flags_mu() {
  static std::mutex mu;
  return mu;
}
std::vector<DebugFlag*>& flags() {
  static std::vector<DebugFlag*> v;
  return v;
}
}  // namespace

DebugFlag::DebugFlag(std::string_view name, std::string_view flag, int initial)
    : name_(name), flag_(flag), value_(initial) {
  std::lock_guard lock(flags_mu());
  flags().push_back(this);
}

DebugFlag::~DebugFlag() {
  std::lock_guard lock(flags_mu());
  std::erase(flags(), this);
}

DebugFlag* find_debug_flag(std::string_view name, std::string_view flag) {
  std::lock_guard lock(flags_mu());
  for (DebugFlag* f : flags())
    if (f->name() == name && f->flag() == flag) return f;
  return nullptr;
}

Status nanosleep(uint64_t ns) {
  std::unique_lock lock(g_shutdown_mu);
  if (g_shutdown_cv.wait_for(lock, std::chrono::nanoseconds(ns), [] { return g_shutting_down; }))
    return make_error(ESHUTDOWN, "the server is shutting down");
  return ok();
}

void begin_shutdown() {
  {
    std::lock_guard lock(g_shutdown_mu);
    g_shutting_down = true;
  }
  g_shutdown_cv.notify_all();
}

const char* thread_model_name(ThreadModel m) {
  switch (m) {
    case ThreadModel::SerializeConnections: return "serialize_connections";
    case ThreadModel::SerializeAllRequests: return "serialize_all_requests";
    case ThreadModel::SerializeRequests: return "serialize_requests";
    case ThreadModel::Parallel: return "parallel";
  }
  return "unknown";
}

void ExtentList::reset(uint64_t start, uint64_t end) {
  start_ = next_ = start;
  end_ = end;
  extents_.clear();
}

Status ExtentList::add(uint64_t offset, uint64_t length, uint32_t type) {
  if (length == 0) return ok();
  if (offset + length < offset) return make_error(EINVAL, "extent overflows");
  // Extents are reported from the plugin's natural boundaries, so the first one may begin
  // before start; it must still cover start.
  if (extents_.empty() && next_ == start_) {
    if (offset > start_) return make_error(EINVAL, "first extent begins after the requested offset");
  } else if (offset != next_) {
    return make_error(EINVAL, "extents must be added in ascending, contiguous order");
  }
  uint64_t end = offset + length;
  if (end <= start_) return ok();  // wholly before the range
  if (next_ >= end_) {
    next_ = end;
    return ok();  // wholly past the range
  }
  uint64_t b = std::max(offset, start_);
  uint64_t e = std::min(end, end_);
  if (!extents_.empty() && extents_.back().type == type && extents_.back().offset + extents_.back().length == b) {
    extents_.back().length += e - b;
  } else {
    extents_.push_back({b, e - b, type});
  }
  next_ = end;
  return ok();
}

Status Connection::pwrite(std::span<const std::byte>, uint64_t, uint32_t) {
  return make_error(EROFS, "this export does not support writes");
}
Status Connection::flush(uint32_t) { return make_error(EINVAL, "this export does not support flush"); }
Status Connection::trim(uint64_t, uint64_t, uint32_t) {
  return make_error(EINVAL, "this export does not support trim");
}
Status Connection::zero(uint64_t, uint64_t, uint32_t) {
  return make_error(ENOTSUP, "this export does not support zero");
}
Status Connection::extents(uint64_t count, uint64_t offset, uint32_t, ExtentList& extents) {
  return extents.add(offset, count, 0);
}
Status Connection::cache(uint64_t, uint64_t, uint32_t) {
  return make_error(EINVAL, "this export does not support cache");
}

Status Plugin::config(std::string_view key, std::string_view) {
  return make_error(EINVAL, "unknown parameter '" + std::string(key) + "'");
}

Result<std::vector<ExportInfo>> Plugin::list_exports(bool, bool) {
  return std::vector<ExportInfo>{ExportInfo{"", ""}};
}

}  // namespace nbd
