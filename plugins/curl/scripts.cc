// SPDX-License-Identifier: BSD-3-Clause
// Runs the curl plugin's header and cookie scripts through the project's subprocess runner.
#include "plugins/curl/scripts.h"

#include "common/subprocess.h"
#include "nbd/log.h"
#include "nbd/plugin.h"

namespace nbd::plugins::curl_plugin {
namespace {

DebugFlag debug_scripts{"curl", "scripts"};
constexpr int kScriptTimeoutMs = 60'000;

}  // namespace

bool Scripts::due(const ScriptConfig& c, const State& st) const {
  if (!c.script) return false;
  if (st.iteration == 0) return true;
  return c.renew_s && std::chrono::steady_clock::now() - st.ran_at >= std::chrono::seconds(c.renew_s);
}

Result<std::string> Scripts::run(const char* what, const ScriptConfig& c, State& st) {
  Program p = Program::shell(*c.script);
  p.set_env = {"url=" + url_, "iteration=" + std::to_string(st.iteration)};
  p.in = Redirect::null();
  p.out = Redirect::pipe();
  p.err = Redirect::pipe();
  RunOptions o;
  o.timeout_ms = kScriptTimeoutMs;
  o.max_output = 1 << 20;
  auto r = nbd::run(p, o);
  if (!r) return make_error(r.error().errnum, std::string(what) + ": " + r.error().message);
  if (!exited_ok(r->wait_status)) {
    std::string err = r->err.substr(0, r->err.find('\n'));
    return make_error(EIO, std::string(what) + " " + describe_wait_status(r->wait_status) +
                               (err.empty() ? "" : ": " + err));
  }
  st.iteration++;
  st.ran_at = std::chrono::steady_clock::now();
  if (debug_scripts) log::debug("%s printed: %s", what, r->out.c_str());
  return std::move(r->out);
}

Result<std::shared_ptr<const Generated>> Scripts::current() {
  std::lock_guard lock(mu_);
  const bool h = due(header_, header_state_), c = due(cookie_, cookie_state_);
  if (!h && !c) return gen_;
  auto next = std::make_shared<Generated>(*gen_);
  next->generation++;
  if (h) {
    NBD_TRY_ASSIGN(std::string out, run("header-script", header_, header_state_));
    next->headers.clear();
    size_t pos = 0;
    while (pos < out.size()) {
      size_t nl = out.find('\n', pos);
      if (nl == std::string::npos) nl = out.size();
      std::string line = out.substr(pos, nl - pos);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (!line.empty()) next->headers.push_back(std::move(line));
      pos = nl + 1;
    }
  }
  if (c) {
    NBD_TRY_ASSIGN(std::string out, run("cookie-script", cookie_, cookie_state_));
    out = out.substr(0, out.find('\n'));
    if (!out.empty() && out.back() == '\r') out.pop_back();
    next->cookie = std::move(out);
  }
  gen_ = std::move(next);
  return gen_;
}

}  // namespace nbd::plugins::curl_plugin
