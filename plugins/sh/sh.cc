// SPDX-License-Identifier: BSD-3-Clause
// sh plugin: `nbdkit sh SCRIPT [key=value...]`. One executable (or `-`: a script read from
// stdin) is run for every method; the protocol itself lives in script_plugin.cc.
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>

#include "nbd/plugin.h"
#include "plugins/sh/script_plugin.h"

namespace nbd::plugins {
namespace {

using script::Exit;

Result<std::string> read_stdin() {
  std::string text;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(0, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0)
      return make_error(errno,
                        std::string("script=-: reading the script from stdin: ") + std::strerror(errno));
    if (n == 0) return text;
    text.append(buf, size_t(n));
  }
}

class ShPlugin final : public script::ScriptPlugin {
 public:
  std::string program_for(std::string_view) const override { return script_; }

  Status config(std::string_view key, std::string_view value) override {
    NBD_TRY(tmpdir_status());
    if (script_.empty()) {
      if (key != "script") return make_error(EINVAL, "the first parameter must be script=/path/to/script");
      return load_script(value);
    }
    std::string k(key);
    if (k == "script") {
      // A second bare word: upstream gives it to the script's magic_config_key.
      if (magic_key_.empty()) {
        return make_error(
            EINVAL, script_ + ": expecting key=value on the command line but got: " + std::string(value));
      }
      k = magic_key_;
    }
    NBD_TRY_ASSIGN(auto r, call("config", {k, std::string(value)}));
    if (r.exit == Exit::Missing)
      return make_error(EINVAL, script_ + ": this plugin does not need command line configuration");
    if (r.exit == Exit::False) return unexpected("config", r.exit);
    return ok();
  }

  Status config_complete() override {
    if (script_.empty())
      return make_error(EINVAL, "missing script parameter: nbdkit sh /path/to/script [key=value...]");
    return ScriptPlugin::config_complete();
  }

 private:
  Status load_script(std::string_view value) {
    if (value == "-") {
      NBD_TRY_ASSIGN(std::string text, read_stdin());
      NBD_TRY_ASSIGN(script_, write_program("inline-script.sh", text));
    } else {
      std::string v(value);
      char real[PATH_MAX];
      if (!::realpath(v.c_str(), real)) return make_error(errno, "script=" + v + ": " + std::strerror(errno));
      struct stat st;
      if (::stat(real, &st) < 0 || !S_ISREG(st.st_mode))
        return make_error(EINVAL, "script=" + v + ": not a regular file");
      if (::access(real, X_OK) < 0)
        return make_error(EACCES, "script=" + v + ": the script is not executable (chmod +x)");
      script_ = real;
    }
    NBD_TRY(call_optional("load"));
    NBD_TRY_ASSIGN(auto r, call("magic_config_key", {}));
    if (r.exit == Exit::Ok) magic_key_ = std::string(script::trim(r.out));
    return ok();
  }

  std::string script_;
  std::string magic_key_;
};

constexpr ParamHelp kParams[] = {
    {"script", "[script=]SCRIPT  The script or executable to run for every method; - reads it from stdin."},
    {"KEY", "KEY=VALUE  Passed to the script's config method."},
};

}  // namespace

extern const PluginInfo sh_plugin_info;
const PluginInfo sh_plugin_info{
    .name = "sh",
    .description = "nbdkit shell, script or executable plugin",
    .magic_config_key = "script",
    .params = kParams,
    .factory = [] { return std::unique_ptr<Plugin>(std::make_unique<ShPlugin>()); },
};

}  // namespace nbd::plugins
