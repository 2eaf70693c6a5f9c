// SPDX-License-Identifier: BSD-3-Clause
// The per-client methods of the sh/eval script protocol: each is `PROGRAM METHOD HANDLE ...`
// with the arguments, stdin/stdout data and exit codes of nbdkit-sh-plugin(3).
#include <cerrno>

#include "nbd/log.h"
#include "nbd/parse.h"
#include "plugins/sh/script_plugin.h"

namespace nbd::script {
namespace {

class ScriptConnection final : public Connection {
 public:
  ScriptConnection(const ScriptPlugin& p, std::string handle) : p_(p), h_(std::move(handle)) {}
  ~ScriptConnection() override {
    if (auto r = p_.call("close", {h_}); !r) log::error("%s", r.error().message.c_str());
  }

  Result<uint64_t> get_size() override {
    NBD_TRY_ASSIGN(auto r, p_.call("get_size", {h_}));
    if (r.exit != Exit::Ok) return p_.unexpected("get_size", r.exit);
    auto size = parse_size("get_size", script::trim(r.out));
    if (!size) return make_error(EIO, p_.program_for("get_size") + ": " + size.error().message);
    return *size;
  }

  Result<BlockSize> block_size() override {
    NBD_TRY_ASSIGN(auto r, p_.call("block_size", {h_}));
    if (r.exit == Exit::Missing) return BlockSize{};
    if (r.exit == Exit::False) return p_.unexpected("block_size", r.exit);
    return named("block_size", parse_block_size(r.out));
  }

  Result<bool> can_write() override { return p_.ask("can_write", {h_}, "pwrite"); }
  Result<bool> can_flush() override { return p_.ask("can_flush", {h_}, "flush"); }
  Result<bool> is_rotational() override { return p_.ask("is_rotational", {h_}, ""); }
  Result<bool> can_trim() override { return p_.ask("can_trim", {h_}, "trim"); }
  // As a C plugin's bool can_zero: false means the core emulates zero with writes.
  Result<ZeroMode> can_zero() override {
    NBD_TRY_ASSIGN(bool native, p_.ask("can_zero", {h_}, "zero"));
    return native ? ZeroMode::Native : ZeroMode::Emulate;
  }
  // Missing: as a C plugin without can_fast_zero, fast exactly when zero is emulated.
  Result<bool> can_fast_zero() override {
    NBD_TRY_ASSIGN(auto r, p_.call("can_fast_zero", {h_}));
    if (r.exit == Exit::Missing) return Connection::can_fast_zero();
    return r.exit == Exit::Ok;
  }
  Result<bool> can_extents() override { return p_.ask("can_extents", {h_}, "extents"); }
  Result<bool> can_multi_conn() override { return p_.ask("can_multi_conn", {h_}, ""); }

  Result<FuaMode> can_fua() override {
    NBD_TRY_ASSIGN(auto r, p_.call("can_fua", {h_}));
    if (r.exit == Exit::Ok) return named("can_fua", parse_fua_mode(r.out));
    if (r.exit == Exit::False) return p_.unexpected("can_fua", r.exit);
    // Like a C plugin without can_fua: the core can emulate FUA with a flush.
    NBD_TRY_ASSIGN(bool flush, can_flush());
    return flush ? FuaMode::Emulate : FuaMode::None;
  }

  Result<CacheMode> can_cache() override {
    NBD_TRY_ASSIGN(auto r, p_.call("can_cache", {h_}));
    if (r.exit == Exit::Ok) return named("can_cache", parse_cache_mode(r.out));
    if (r.exit == Exit::False) return p_.unexpected("can_cache", r.exit);
    return p_.defines("cache") ? CacheMode::Native : CacheMode::None;
  }

  Result<std::string> export_description() override {
    NBD_TRY_ASSIGN(auto r, p_.call("export_description", {h_}));
    if (r.exit == Exit::Missing) return std::string();
    if (r.exit == Exit::False) return p_.unexpected("export_description", r.exit);
    return std::string(chomp(r.out));
  }

  Status pread(std::span<std::byte> buf, uint64_t offset, uint32_t) override {
    NBD_TRY_ASSIGN(Exit e,
                   p_.call_into("pread", {h_, std::to_string(buf.size()), std::to_string(offset)}, buf));
    if (e != Exit::Ok) return p_.unexpected("pread", e);
    return ok();
  }

  Status pwrite(std::span<const std::byte> buf, uint64_t offset, uint32_t flags) override {
    return data_call("pwrite", {h_, std::to_string(buf.size()), std::to_string(offset), write_flags(flags)},
                     buf);
  }
  Status flush(uint32_t) override { return data_call("flush", {h_}); }
  Status trim(uint64_t count, uint64_t offset, uint32_t flags) override {
    return data_call("trim", {h_, std::to_string(count), std::to_string(offset), write_flags(flags)});
  }
  Status cache(uint64_t count, uint64_t offset, uint32_t) override {
    return data_call("cache", {h_, std::to_string(count), std::to_string(offset)});
  }

  Status zero(uint64_t count, uint64_t offset, uint32_t flags) override {
    NBD_TRY_ASSIGN(auto r,
                   p_.call("zero", {h_, std::to_string(count), std::to_string(offset), zero_flags(flags)}));
    if (r.exit == Exit::Ok) return ok();
    // Without a zero method the core falls back to writing zeroes (upstream does the same).
    if (r.exit == Exit::Missing)
      return make_error(ENOTSUP, p_.program_for("zero") + ": zero is not implemented");
    return p_.unexpected("zero", r.exit);
  }

  Status extents(uint64_t count, uint64_t offset, uint32_t flags, ExtentList& e) override {
    NBD_TRY_ASSIGN(auto r, p_.call("extents", {h_, std::to_string(count), std::to_string(offset),
                                               extents_flags(flags)}));
    if (r.exit == Exit::Missing) {
      return make_error(
          EIO, p_.program_for("extents") + ": can_extents returned true, but the extents method is missing");
    }
    if (r.exit == Exit::False) return p_.unexpected("extents", r.exit);
    return named("extents", parse_extents(r.out, e));
  }

 private:
  // Prefixes a parse error with the program, so the log says which script printed it.
  template <class T>
  Result<T> named(std::string_view method, Result<T> r) const {
    if (r) return r;
    return make_error(EIO, p_.program_for(method) + ": " + r.error().message);
  }
  Status named(std::string_view method, Status s) const {
    if (s) return s;
    return make_error(EIO, p_.program_for(method) + ": " + s.error().message);
  }

  Status data_call(std::string_view method, std::vector<std::string> args,
                   std::span<const std::byte> in = {}) {
    NBD_TRY_ASSIGN(auto r, p_.call(method, std::move(args), in));
    if (r.exit == Exit::Ok) return ok();
    if (r.exit == Exit::Missing) {
      return make_error(EIO, p_.program_for(method) + ": " + std::string(method) + " is not implemented");
    }
    return p_.unexpected(method, r.exit);
  }

  const ScriptPlugin& p_;
  std::string h_;
};

}  // namespace

std::unique_ptr<Connection> make_script_connection(const ScriptPlugin& plugin, std::string handle) {
  return std::make_unique<ScriptConnection>(plugin, std::move(handle));
}

}  // namespace nbd::script
