// SPDX-License-Identifier: BSD-3-Clause
// multi-conn filter: advertises, emulates or hides NBD multi-conn (flush consistency across the
// connections open on one export), like upstream's nbdkit-multi-conn-filter.
#include <array>
#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "nbd/filter.h"
#include "nbd/parse.h"

namespace nbd::filters {
namespace {

enum class Mode { Auto, Emulate, Plugin, Unsafe, Disable };
constexpr std::array<std::string_view, 5> kModes = {"auto", "emulate", "plugin", "unsafe", "disable"};
enum class Track { Connection, Fast, Off };

// Per-connection dirty bits (multi-conn-track-dirty=connection).
constexpr uint8_t kWrote = 1;  // write, zero or trim since this connection's last flush
constexpr uint8_t kRead = 2;   // read or cache since then: the layer below may hold stale data

class MultiConnConnection;

// The connections open on one export (all exports with multi-conn-exportname=false).
struct Group {
  std::vector<MultiConnConnection*> members;  // guarded by Shared::mu
  std::atomic<bool> dirty{false};             // a write on any member since the group was last clean
};

// What all connections of one filter share. mu guards the groups and their members and is held
// for the whole of every tracked flush, so a flush never returns while another that it relies on
// is still running, and no member leaves while its connection is being flushed.
struct Shared {
  Mode mode = Mode::Auto;
  Track track = Track::Connection;
  bool by_name = false;
  // From get_ready: under serialize_requests a connection must not run a replicated flush while
  // it runs one of its own requests; under serialize_connections only one client exists, and
  // the server never advertises multi-conn (as upstream's core).
  bool serialize_requests = false;
  bool one_connection = false;
  std::mutex mu;
  std::map<std::string, Group> groups;
};

// Dirty bits are marked after the call below returns, and taken (exchanged to clean) before a
// flush is sent, so a mark is either seen by a flush that started after its request completed,
// or stays for the next one.
class MultiConnConnection final : public FilterConnection {
 public:
  MultiConnConnection(std::unique_ptr<Connection> next, Shared& s, std::string group)
      : FilterConnection(std::move(next)), s_(s), mode_(s.mode), key_(std::move(group)) {}
  ~MultiConnConnection() override { leave(); }

  Status prepare(bool /*readonly*/) override {
    NBD_TRY_ASSIGN(bool below_mc, next().can_multi_conn());
    if (mode_ == Mode::Auto) mode_ = below_mc ? Mode::Plugin : Mode::Emulate;
    if (mode_ == Mode::Emulate) {
      NBD_TRY_ASSIGN(bool flush, next().can_flush());
      if (!flush)
        return make_error(EINVAL, "multi-conn: emulating multi-conn requires the plugin to support flush");
    }
    below_multi_conn_ = below_mc;
    std::lock_guard l(s_.mu);
    group_ = &s_.groups[key_];
    group_->members.push_back(this);
    return ok();
  }
  Status finalize() override {
    leave();
    return ok();
  }

  Result<bool> can_multi_conn() override {
    if (s_.one_connection) return false;
    switch (mode_) {
      case Mode::Emulate:
      case Mode::Unsafe: return true;
      case Mode::Plugin: return below_multi_conn_;
      case Mode::Auto:
      case Mode::Disable: break;
    }
    return false;
  }
  // Native FUA would persist a write on this connection only; emulated, the core above turns it
  // into the write and our flush, which reaches every connection.
  Result<FuaMode> can_fua() override {
    NBD_TRY_ASSIGN(FuaMode f, next().can_fua());
    return mode_ == Mode::Emulate && f == FuaMode::Native ? FuaMode::Emulate : f;
  }

  Status pread(std::span<std::byte> buf, uint64_t offset, uint32_t flags) override {
    Status s = io([&] { return next().pread(buf, offset, flags); });
    mark(kRead);
    return s;
  }
  Status cache(uint64_t count, uint64_t offset, uint32_t flags) override {
    Status s = io([&] { return next().cache(count, offset, flags); });
    mark(kRead);
    return s;
  }
  Status extents(uint64_t count, uint64_t offset, uint32_t flags, ExtentList& e) override {
    return io([&] { return next().extents(count, offset, flags, e); });
  }
  // A FUA write persists itself (it only reaches here outside emulate mode), as upstream.
  Status pwrite(std::span<const std::byte> buf, uint64_t offset, uint32_t flags) override {
    Status s = io([&] { return next().pwrite(buf, offset, flags); });
    if (!(flags & kFua)) mark(kWrote);
    return s;
  }
  Status zero(uint64_t count, uint64_t offset, uint32_t flags) override {
    Status s = io([&] { return next().zero(count, offset, flags); });
    if (!(flags & kFua)) mark(kWrote);
    return s;
  }
  Status trim(uint64_t count, uint64_t offset, uint32_t flags) override {
    Status s = io([&] { return next().trim(count, offset, flags); });
    if (!(flags & kFua)) mark(kWrote);
    return s;
  }
  Status flush(uint32_t flags) override {
    if (mode_ == Mode::Emulate) return flush_group(flags);
    if (s_.track == Track::Off) return next().flush(flags);
    std::lock_guard l(s_.mu);
    return flush_self(flags);
  }

 private:
  template <class F>
  Status io(F&& op) {
    if (!s_.serialize_requests) return op();
    std::lock_guard l(io_mu_);
    return op();
  }
  void mark(uint8_t bit) {
    if (s_.track == Track::Off) return;
    // Loads first: a bit already set costs no write to a cache line other threads share.
    if (s_.track == Track::Connection && !(dirty_.load(std::memory_order_relaxed) & bit))
      dirty_.fetch_or(bit, std::memory_order_release);
    if (bit == kWrote && !group_->dirty.load(std::memory_order_relaxed))
      group_->dirty.store(true, std::memory_order_release);
  }

  // Emulate: flush every member of the group that may need it (each through its own next()),
  // so the client's flush on any one connection covers them all.
  Status flush_group(uint32_t flags) {
    std::lock_guard l(s_.mu);
    const bool group_dirty = group_->dirty.exchange(false, std::memory_order_acq_rel);
    for (MultiConnConnection* m : group_->members) {
      uint8_t bits = m->dirty_.load(std::memory_order_acquire);
      bool needed = s_.track == Track::Off || (bits & kWrote) ||
                    (group_dirty && (s_.track == Track::Fast || (bits & kRead)));
      if (!needed) continue;
      bits = m->dirty_.exchange(0, std::memory_order_acq_rel);
      if (Status st = m->io([&] { return m->next().flush(flags); }); !st) {
        m->dirty_.fetch_or(bits, std::memory_order_release);
        if (group_dirty) group_->dirty.store(true, std::memory_order_release);
        return st;
      }
    }
    return ok();
  }

  // Not emulating: only this connection is flushed, and not at all when nothing in the group
  // was written since it was last clean. Called with s_.mu held.
  Status flush_self(uint32_t flags) {
    if (!group_->dirty.load(std::memory_order_acquire)) return ok();
    if (s_.track == Track::Fast || below_multi_conn_) {
      // One flush covers every connection: the whole group is clean once it returns.
      group_->dirty.store(false, std::memory_order_release);
      if (s_.track == Track::Connection)
        for (MultiConnConnection* m : group_->members) m->dirty_.store(0, std::memory_order_release);
      Status st = next().flush(flags);
      if (!st) {
        group_->dirty.store(true, std::memory_order_release);
        if (s_.track == Track::Connection)
          for (MultiConnConnection* m : group_->members)
            m->dirty_.fetch_or(kWrote, std::memory_order_release);
      }
      return st;
    }
    // The plugin has no multi-conn: this flush cleans this connection only, and the group stays
    // dirty, so every later flush is passed on (conservative, as upstream).
    uint8_t bits = dirty_.exchange(0, std::memory_order_acq_rel);
    Status st = next().flush(flags);
    if (!st) dirty_.fetch_or(bits, std::memory_order_release);
    return st;
  }

  void leave() {
    std::lock_guard l(s_.mu);
    if (!group_) return;
    std::erase(group_->members, this);
    if (group_->members.empty()) s_.groups.erase(key_);
    group_ = nullptr;
  }

  Shared& s_;
  Mode mode_;  // Auto until prepare decides
  bool below_multi_conn_ = false;
  std::string key_;
  Group* group_ = nullptr;  // set in prepare, cleared in finalize (under s_.mu)
  std::atomic<uint8_t> dirty_{0};
  std::mutex io_mu_;  // only under serialize_requests
};

class MultiConnFilter final : public Filter {
 public:
  Result<bool> config(std::string_view key, std::string_view value) override {
    if (key == "multi-conn-mode") {
      for (size_t i = 0; i < kModes.size(); ++i)
        if (kModes[i] == value) {
          s_.mode = Mode(i);
          return true;
        }
      return make_error(EINVAL, "multi-conn: multi-conn-mode=" + std::string(value) +
                                    ": unknown mode (use auto, emulate, plugin, unsafe or disable)");
    }
    if (key == "multi-conn-track-dirty") {
      if (value == "connection" || value == "conn")
        s_.track = Track::Connection;
      else if (value == "fast")
        s_.track = Track::Fast;
      else if (value == "off")
        s_.track = Track::Off;
      else
        return make_error(EINVAL, "multi-conn: multi-conn-track-dirty=" + std::string(value) +
                                      ": unknown level (use connection, fast or off)");
      return true;
    }
    if (key == "multi-conn-exportname" || key == "multi-conn-export-name") {
      auto b = parse_bool(key, value);
      if (!b) return make_error(EINVAL, "multi-conn: " + b.error().message);
      s_.by_name = *b;
      return true;
    }
    return false;
  }
  Status get_ready(ThreadModel server_model) override {
    // As upstream: with one client at a time there is nothing to emulate.
    s_.one_connection = server_model == ThreadModel::SerializeConnections;
    if (s_.one_connection && s_.mode == Mode::Auto) s_.mode = Mode::Disable;
    s_.serialize_requests = server_model == ThreadModel::SerializeRequests;
    return ok();
  }
  Result<std::unique_ptr<Connection>> open(const OpenParams& params, const NextOpen& next) override {
    NBD_TRY_ASSIGN(auto below, next(params));
    return std::unique_ptr<Connection>(
        std::make_unique<MultiConnConnection>(std::move(below), s_, s_.by_name ? params.export_name : ""));
  }

 private:
  Shared s_;
};

constexpr ParamHelp kParams[] = {
    {"multi-conn-mode",
     "multi-conn-mode=<MODE>  'auto' (default), 'emulate', 'plugin', 'unsafe' or 'disable'."},
    {"multi-conn-track-dirty", "multi-conn-track-dirty=<LEVEL>  'connection' (default), 'fast' or 'off'."},
    {"multi-conn-exportname",
     "multi-conn-exportname=<BOOL>  true: emulate only among clients of one export name."},
};

}  // namespace

extern const FilterInfo multi_conn_filter_info;
const FilterInfo multi_conn_filter_info{
    .name = "multi-conn",
    .description = "nbdkit multi-conn filter: enable, emulate or disable multi-conn",
    .params = kParams,
    .factory = [] { return std::unique_ptr<Filter>(std::make_unique<MultiConnFilter>()); },
};

}  // namespace nbd::filters
