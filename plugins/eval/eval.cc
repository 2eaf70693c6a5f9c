// SPDX-License-Identifier: BSD-3-Clause
// eval plugin: `nbdkit eval get_size='...' pread='...' ...`. Each METHOD=SCRIPT fragment is
// saved as $tmpdir/METHOD and run by /bin/sh with the sh plugin's protocol (script_plugin.cc).
#include <algorithm>
#include <set>

#include "nbd/plugin.h"
#include "plugins/sh/script_plugin.h"

namespace nbd::plugins {
namespace {

using script::Exit;

// Every method a fragment may be given for, plus "missing" (run for the ones not given).
constexpr std::string_view kMethods[] = {
    "after_fork",     "block_size",    "cache",
    "can_cache",      "can_extents",   "can_fast_zero",
    "can_flush",      "can_fua",       "can_multi_conn",
    "can_trim",       "can_write",     "can_zero",
    "close",          "config",        "config_complete",
    "default_export", "dump_plugin",   "export_description",
    "extents",        "flush",         "get_ready",
    "get_size",       "is_rotational", "list_exports",
    "missing",        "open",          "pread",
    "preconnect",     "pwrite",        "thread_model",
    "trim",           "unload",        "zero",
};

bool is_method(std::string_view key) {
  return std::find(std::begin(kMethods), std::end(kMethods), key) != std::end(kMethods);
}

class EvalPlugin final : public script::ScriptPlugin {
 public:
  EvalPlugin() {
    // Without missing=, a method nobody defined behaves as not implemented.
    if (auto r = write_program("missing", "#!/bin/sh\nexit 2\n"); r) missing_ = *r;
  }

  std::string program_for(std::string_view method) const override {
    if (defines(method)) return tmpdir() + "/" + std::string(method);
    return missing_;
  }
  bool defines(std::string_view method) const override { return given_.count(std::string(method)) > 0; }

  Status config(std::string_view key, std::string_view value) override {
    NBD_TRY(tmpdir_status());
    if (is_method(key)) {
      std::string text = "#!/bin/sh\n" + std::string(value) + "\n";
      NBD_TRY_ASSIGN(std::string path, write_program(key, text));
      if (key == "missing")
        missing_ = path;
      else
        given_.insert(std::string(key));
      return ok();
    }
    NBD_TRY_ASSIGN(auto r, call("config", {std::string(key), std::string(value)}));
    if (r.exit == Exit::Missing) {
      return make_error(EINVAL, "unknown parameter '" + std::string(key) +
                                    "': it is not a method name and there is no config= script to handle it");
    }
    if (r.exit == Exit::False) return unexpected("config", r.exit);
    return ok();
  }

 private:
  std::string missing_;
  std::set<std::string> given_;
};

constexpr ParamHelp kParams[] = {
    {"METHOD", "METHOD=SCRIPT  Shell fragment run by /bin/sh for METHOD (get_size, pread, pwrite, ...)."},
    {"missing", "missing=SCRIPT  Run for every method not given (default: exit 2)."},
    {"KEY", "KEY=VALUE  Any other key is passed to the config= fragment."},
};

}  // namespace

extern const PluginInfo eval_plugin_info;
const PluginInfo eval_plugin_info{
    .name = "eval",
    .description = "nbdkit eval plugin: shell script fragments on the command line",
    .magic_config_key = "",
    .params = kParams,
    .factory = [] { return std::unique_ptr<Plugin>(std::make_unique<EvalPlugin>()); },
};

}  // namespace nbd::plugins
