// SPDX-License-Identifier: BSD-3-Clause
// ScriptPlugin: the process-wide methods of the sh/eval script protocol, and `call`, the one
// place a method becomes a program run (argv, $tmpdir, exit code, stderr error).
#include "plugins/sh/script_plugin.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "common/subprocess.h"
#include "nbd/log.h"

namespace nbd::script {
namespace {

constexpr uint64_t kMaxText = 64 << 20;  // stdout kept as text

std::string bool_arg(bool b) { return b ? "true" : "false"; }

std::string describe_call(const std::vector<std::string>& argv) {
  std::string s;
  for (const auto& a : argv) {
    if (!s.empty()) s += ' ';
    s += a;
  }
  return s;
}

}  // namespace

ScriptPlugin::ScriptPlugin() {
  auto d = TempDir::create("nbdkit");
  if (d)
    tmpdir_ = std::move(*d);
  else
    tmpdir_error_ = d.error().message;
}

ScriptPlugin::~ScriptPlugin() = default;

Status ScriptPlugin::tmpdir_status() const {
  if (tmpdir_.empty()) return make_error(EIO, tmpdir_error_.empty() ? "$tmpdir was removed" : tmpdir_error_);
  return ok();
}

Result<std::string> ScriptPlugin::write_program(std::string_view name, std::string_view text) const {
  NBD_TRY(tmpdir_status());
  std::string path = tmpdir_.file(name);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0700);
  if (fd < 0) return make_error(errno, path + ": " + std::strerror(errno));
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      ::close(fd);
      return make_error(e, path + ": " + std::strerror(e));
    }
    done += size_t(n);
  }
  if (::fchmod(fd, 0700) < 0 || ::close(fd) < 0) return make_error(errno, path + ": " + std::strerror(errno));
  return path;
}

Result<ScriptPlugin::Run> ScriptPlugin::run(std::string_view method, std::vector<std::string>& args,
                                            std::span<const std::byte> input,
                                            std::span<std::byte>* out) const {
  Run run{program_for(method), Exit::Missing, {}, 0};
  if (run.program.empty()) return run;
  Program c;
  c.argv.push_back(run.program);
  c.argv.emplace_back(method);
  for (auto& a : args) c.argv.push_back(std::move(a));
  c.set_env.push_back("tmpdir=" + tmpdir_.path());
  c.in = c.out = c.err = Redirect::pipe();
  if (log::verbose()) log::debug("calling: %s", describe_call(c.argv).c_str());
  // Method output is small text; a runaway script must not fill the server's memory.
  NBD_TRY_ASSIGN(RunResult r, nbd::run(c, {.input = input, .fixed_output = out, .max_output = kMaxText}));
  NBD_TRY_ASSIGN(run.exit, decode_status(run.program, r.wait_status, r.err));
  run.out = std::move(r.out);
  run.out_bytes = r.out_bytes;
  return run;
}

Result<ScriptPlugin::Reply> ScriptPlugin::call(std::string_view method, std::vector<std::string> args,
                                               std::span<const std::byte> input) const {
  NBD_TRY_ASSIGN(Run r, run(method, args, input, nullptr));
  return Reply{r.exit, std::move(r.out)};
}

Result<Exit> ScriptPlugin::call_into(std::string_view method, std::vector<std::string> args,
                                     std::span<std::byte> out) const {
  NBD_TRY_ASSIGN(Run r, run(method, args, {}, &out));
  if (r.exit == Exit::Ok && r.out_bytes != out.size()) {
    return make_error(EIO, r.program + ": incorrect amount of data read: expecting " +
                               std::to_string(out.size()) + " bytes but received " +
                               std::to_string(r.out_bytes) + " bytes from the script");
  }
  return r.exit;
}

Result<bool> ScriptPlugin::ask(std::string_view method, std::vector<std::string> args,
                               std::string_view companion) const {
  NBD_TRY_ASSIGN(Reply r, call(method, std::move(args)));
  switch (r.exit) {
    case Exit::Ok: return true;
    case Exit::False: return false;
    case Exit::Missing: return !companion.empty() && defines(companion);
  }
  return false;
}

Error ScriptPlugin::unexpected(std::string_view method, Exit exit) const {
  std::string prog = program_for(method);
  if (exit == Exit::Missing)
    return make_error(EIO, prog + ": the " + std::string(method) + " method is required");
  return make_error(EIO, prog + ": " + std::string(method) + ": unexpected exit status " +
                             std::to_string(exit == Exit::False ? kExitFalse : 0));
}

Status ScriptPlugin::call_optional(std::string_view method, std::vector<std::string> args) const {
  NBD_TRY_ASSIGN(Reply r, call(method, std::move(args)));
  if (r.exit == Exit::False) return unexpected(method, r.exit);
  return ok();
}

Status ScriptPlugin::config_complete() {
  NBD_TRY(tmpdir_status());
  return call_optional("config_complete");
}

ThreadModel ScriptPlugin::thread_model() {
  // Scripts are not assumed to be safe to run in parallel unless they say so.
  ThreadModel m = ThreadModel::SerializeAllRequests;
  auto r = call("thread_model", {});
  if (!r)
    log::error("%s", r.error().message.c_str());
  else if (r->exit == Exit::Ok)
    parse_thread_model(r->out, m);
  return m;
}

Status ScriptPlugin::get_ready() { return call_optional("get_ready"); }

Status ScriptPlugin::after_fork() {
  tmpdir_.adopt();
  return call_optional("after_fork");
}

Status ScriptPlugin::preconnect(const Peer&, bool readonly) {
  return call_optional("preconnect", {bool_arg(readonly)});
}

Result<std::vector<ExportInfo>> ScriptPlugin::list_exports(bool readonly, bool is_tls) {
  NBD_TRY_ASSIGN(Reply r, call("list_exports", {bool_arg(readonly), bool_arg(is_tls)}));
  if (r.exit == Exit::Ok) return parse_export_list(r.out);
  if (r.exit == Exit::False) return unexpected("list_exports", r.exit);
  NBD_TRY_ASSIGN(std::string name, default_export(readonly, is_tls));
  return std::vector<ExportInfo>{ExportInfo{name, ""}};
}

Result<std::string> ScriptPlugin::default_export(bool readonly, bool is_tls) {
  NBD_TRY_ASSIGN(Reply r, call("default_export", {bool_arg(readonly), bool_arg(is_tls)}));
  if (r.exit == Exit::Missing) return std::string();
  if (r.exit == Exit::False) return unexpected("default_export", r.exit);
  NBD_TRY_ASSIGN(std::vector<ExportInfo> list, parse_export_list(r.out));
  return list.empty() ? std::string() : list.front().name;
}

Result<std::unique_ptr<Connection>> ScriptPlugin::open(const OpenParams& params) {
  NBD_TRY_ASSIGN(Reply r,
                 call("open", {bool_arg(params.readonly), params.export_name, bool_arg(params.is_tls)}));
  if (r.exit == Exit::False) return unexpected("open", r.exit);
  std::string handle = r.exit == Exit::Ok ? std::string(chomp(r.out)) : std::string();
  return make_script_connection(*this, std::move(handle));
}

std::vector<std::string> ScriptPlugin::dump_plugin() {
  // Exit codes above 3 are errors here; scripts may probe this line (nbdkit >= 1.34).
  std::vector<std::string> lines = {"max_known_status=3"};
  auto r = call("dump_plugin", {});
  if (!r) {
    log::error("%s", r.error().message.c_str());
  } else if (r->exit == Exit::Ok) {
    std::string_view out = chomp(r->out);
    while (!out.empty()) {
      size_t nl = out.find('\n');
      lines.emplace_back(out.substr(0, nl));
      out = nl == std::string_view::npos ? std::string_view() : out.substr(nl + 1);
    }
  }
  return lines;
}

void ScriptPlugin::unload() {
  if (unloaded_) return;
  unloaded_ = true;
  if (auto r = call("unload", {}); !r) log::debug("%s", r.error().message.c_str());
  tmpdir_.remove();
}

}  // namespace nbd::script
