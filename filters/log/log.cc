// SPDX-License-Identifier: BSD-3-Clause
// log filter: writes one line per request and per connection event (Connect, Read, ...,
// Disconnect) in upstream nbdkit-log-filter's format, to logfile= and/or logscript=.
#include <atomic>
#include <cinttypes>

#include "log_output.h"
#include "nbd/filter.h"
#include "nbd/parse.h"

namespace nbd::filters {
namespace {

using log_filter::Entry;
using log_filter::Output;
using Vars = std::vector<std::pair<std::string, std::string>>;

std::string hex(uint64_t v) {
  char b[24];
  std::snprintf(b, sizeof b, "0x%" PRIx64, v);
  return b;
}

// "[connection=N ][...]Act[ id=N][ key=value...][ ...]": ENTER lines end in " ...", LEAVE
// lines start with "...". conn and id 0 mean "not part of the line".
Entry make_entry(const char* type, const char* act, uint64_t conn, uint64_t id, const Vars& vars) {
  Entry e{"", type, act, {}};
  if (conn) {
    e.text = "connection=" + std::to_string(conn) + " ";
    e.vars.emplace_back("connection", std::to_string(conn));
  }
  if (e.type == "LEAVE") e.text += "...";
  e.text += act;
  if (id) {
    e.text += " id=" + std::to_string(id);
    e.vars.emplace_back("id", std::to_string(id));
  }
  for (const auto& [k, v] : vars) {
    e.text += " " + k + "=" + v;
    e.vars.emplace_back(k, v);
  }
  if (e.type == "ENTER") e.text += " ...";
  return e;
}

// "return=0", or "return=-1 error=EIO" after any extra fields.
Vars with_result(Vars v, const Error* err) {
  v.emplace_back("return", err ? "-1" : "0");
  if (err) v.emplace_back("error", log_filter::errno_name(err->errnum));
  return v;
}

const char* extent_type(uint64_t t) {
  switch (t & (kExtentHole | kExtentZero)) {
    case 0: return "\"\"";
    case kExtentHole: return "\"hole\"";
    case kExtentZero: return "\"zero\"";
    default: return "\"hole,zero\"";
  }
}

class LogConnection final : public FilterConnection {
 public:
  LogConnection(std::unique_ptr<Connection> next, Output& out, uint64_t conn)
      : FilterConnection(std::move(next)), out_(out), conn_(conn) {}
  ~LogConnection() override {
    out_.write(make_entry("PRINT", "Disconnect", conn_, 0, {{"transactions", std::to_string(ids_.load())}}));
  }

  Status pread(std::span<std::byte> buf, uint64_t offset, uint32_t flags) override {
    uint64_t id = enter("Read", {{"offset", hex(offset)}, {"count", hex(buf.size())}});
    return leave("Read", id, next().pread(buf, offset, flags));
  }
  Status pwrite(std::span<const std::byte> buf, uint64_t offset, uint32_t flags) override {
    uint64_t id =
        enter("Write", {{"offset", hex(offset)}, {"count", hex(buf.size())}, {"fua", bit(flags, kFua)}});
    return leave("Write", id, next().pwrite(buf, offset, flags));
  }
  Status flush(uint32_t flags) override {
    uint64_t id = enter("Flush", {});
    return leave("Flush", id, next().flush(flags));
  }
  Status trim(uint64_t count, uint64_t offset, uint32_t flags) override {
    uint64_t id = enter("Trim", {{"offset", hex(offset)}, {"count", hex(count)}, {"fua", bit(flags, kFua)}});
    return leave("Trim", id, next().trim(count, offset, flags));
  }
  Status zero(uint64_t count, uint64_t offset, uint32_t flags) override {
    uint64_t id = enter("Zero", {{"offset", hex(offset)},
                                 {"count", hex(count)},
                                 {"trim", bit(flags, kMayTrim)},
                                 {"fua", bit(flags, kFua)},
                                 {"fast", bit(flags, kFastZero)}});
    return leave("Zero", id, next().zero(count, offset, flags));
  }
  Status cache(uint64_t count, uint64_t offset, uint32_t flags) override {
    uint64_t id = enter("Cache", {{"offset", hex(offset)}, {"count", hex(count)}});
    return leave("Cache", id, next().cache(count, offset, flags));
  }
  Status extents(uint64_t count, uint64_t offset, uint32_t flags, ExtentList& out) override {
    uint64_t id =
        enter("Extents", {{"offset", hex(offset)}, {"count", hex(count)}, {"req_one", bit(flags, kReqOne)}});
    size_t before = out.extents().size();
    Status s = next().extents(count, offset, flags, out);
    Vars extra;
    if (s) {
      std::string list;
      for (size_t i = before; i < out.extents().size(); ++i) {
        const Extent& e = out.extents()[i];
        list += (list.empty() ? "" : " ") + hex(e.offset) + " " + hex(e.length) + " " + extent_type(e.flags);
      }
      extra.emplace_back("extents", "(" + list + ")");
    }
    return leave("Extents", id, std::move(s), std::move(extra));
  }

 private:
  static std::string bit(uint32_t flags, uint32_t f) { return (flags & f) ? "1" : "0"; }
  uint64_t enter(const char* act, const Vars& vars) {
    uint64_t id = ++ids_;
    out_.write(make_entry("ENTER", act, conn_, id, vars));
    return id;
  }
  Status leave(const char* act, uint64_t id, Status s, Vars extra = {}) {
    out_.write(make_entry("LEAVE", act, conn_, id, with_result(std::move(extra), s ? nullptr : &s.error())));
    return s;
  }

  Output& out_;
  uint64_t conn_;
  std::atomic<uint64_t> ids_{0};
};

// Upstream prints zero as none 0, emulate 1, native 2: the layer below's tri-state answer.
Result<std::string> zero_mode(Connection& c) {
  NBD_TRY_ASSIGN(ZeroMode zero, c.can_zero());
  return std::to_string(int(zero));
}
std::string tri(int v) { return std::to_string(v); }
std::string flag(bool b) { return b ? "1" : "0"; }

Result<Vars> connect_vars(const OpenParams& p, Connection& c) {
  NBD_TRY_ASSIGN(uint64_t size, c.get_size());
  NBD_TRY_ASSIGN(BlockSize bs, c.block_size());
  NBD_TRY_ASSIGN(bool write, c.can_write());
  NBD_TRY_ASSIGN(bool flush, c.can_flush());
  NBD_TRY_ASSIGN(bool rotational, c.is_rotational());
  NBD_TRY_ASSIGN(bool trim, c.can_trim());
  NBD_TRY_ASSIGN(std::string zero, zero_mode(c));
  NBD_TRY_ASSIGN(FuaMode fua, c.can_fua());
  NBD_TRY_ASSIGN(bool extents, c.can_extents());
  NBD_TRY_ASSIGN(CacheMode cache, c.can_cache());
  NBD_TRY_ASSIGN(bool fast_zero, c.can_fast_zero());
  return Vars{{"export", log_filter::shell_quote(p.export_name)},
              {"tls", flag(p.is_tls)},
              {"size", hex(size)},
              {"minsize", hex(bs.minimum)},
              {"prefsize", hex(bs.preferred)},
              {"maxsize", hex(bs.maximum)},
              {"write", flag(write)},
              {"flush", flag(flush)},
              {"rotational", flag(rotational)},
              {"trim", flag(trim)},
              {"zero", zero},
              {"fua", tri(int(fua))},
              {"extents", flag(extents)},
              {"cache", tri(int(cache))},
              {"fast_zero", flag(fast_zero)}};
}

class LogFilter final : public Filter {
 public:
  Result<bool> config(std::string_view key, std::string_view value) override {
    if (key == "logfile") {
      file_ = std::string(value);
    } else if (key == "logappend") {
      NBD_TRY_ASSIGN(append_, parse_bool(key, value));
    } else if (key == "logscript") {
      out_.set_script(std::string(value));
    } else {
      return false;
    }
    return true;
  }
  Status config_complete() override { return file_.empty() ? ok() : out_.open_file(file_, append_); }
  // Like upstream, the model the whole server runs under, not this filter's own.
  Status get_ready(ThreadModel server_model) override {
    return print("Ready", {{"thread_model", tri(int(server_model))}});
  }
  Status after_fork() override { return print("Fork", {}); }
  Status preconnect(const Peer&, bool readonly) override {
    if (!out_.active()) return ok();
    uint64_t id = ++preconnects_;
    out_.write(make_entry("ENTER", "Preconnect", 0, id, {{"readonly", flag(readonly)}}));
    out_.write(make_entry("LEAVE", "Preconnect", 0, id, with_result({}, nullptr)));
    return ok();
  }
  Result<std::vector<ExportInfo>> list_exports(bool readonly, bool is_tls, const NextExports& next) override;
  Result<std::unique_ptr<Connection>> open(const OpenParams& params, const NextOpen& next) override;

 private:
  Status print(const char* act, const Vars& vars) {
    if (out_.active()) out_.write(make_entry("PRINT", act, 0, 0, vars));
    return ok();
  }
  std::string file_;
  bool append_ = false;
  Output out_;
  std::atomic<uint64_t> connections_{0}, preconnects_{0}, lists_{0};
};

Result<std::vector<ExportInfo>> LogFilter::list_exports(bool readonly, bool is_tls, const NextExports& next) {
  if (!out_.active()) return next.list_exports(readonly, is_tls);
  uint64_t id = ++lists_;
  out_.write(
      make_entry("ENTER", "ListExports", 0, id, {{"readonly", flag(readonly)}, {"tls", flag(is_tls)}}));
  auto r = next.list_exports(readonly, is_tls);
  Vars extra;
  if (r) {
    std::string names;
    for (const auto& e : *r) names += (names.empty() ? "" : " ") + log_filter::shell_quote(e.name);
    extra.emplace_back("exports", "(" + names + ")");
  }
  out_.write(
      make_entry("LEAVE", "ListExports", 0, id, with_result(std::move(extra), r ? nullptr : &r.error())));
  return r;
}

Result<std::unique_ptr<Connection>> LogFilter::open(const OpenParams& params, const NextOpen& next) {
  NBD_TRY_ASSIGN(auto below, next(params));
  if (!out_.active()) return below;
  NBD_TRY_ASSIGN(Vars vars, connect_vars(params, *below));
  uint64_t conn = ++connections_;
  out_.write(make_entry("PRINT", "Connect", conn, 0, vars));
  return std::unique_ptr<Connection>(std::make_unique<LogConnection>(std::move(below), out_, conn));
}

constexpr ParamHelp kParams[] = {
    {"logfile", "logfile=<FILE>  The file to place the log in."},
    {"logappend", "logappend=<BOOL>  True to append to the log (default false)."},
    {"logscript", "logscript=<SCRIPT>  Script to run for logging."},
};

}  // namespace

extern const FilterInfo log_filter_info;
const FilterInfo log_filter_info{
    .name = "log",
    .description = "nbdkit log filter: log all transactions",
    .params = kParams,
    .factory = [] { return std::unique_ptr<Filter>(std::make_unique<LogFilter>()); },
};

}  // namespace nbd::filters
