// SPDX-License-Identifier: BSD-3-Clause
// The process-wide stack: one plugin under zero or more filters. Routes command-line
// parameters, runs the lifecycle calls in order and opens a per-client connection chain
// (a Layer boundary above each filter and the plugin). Every call into plugin/filter code is guarded.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "nbd/filter.h"
#include "nbd/plugin.h"
#include "server/layer.h"
#include "server/options.h"

namespace nbd::server {

class Backend {
 public:
  // Finds and instantiates the plugin and filters named in opts (built-in or .so).
  static Result<std::unique_ptr<Backend>> load(const std::string& plugin,
                                               const std::vector<std::string>& filters);
  // From concrete objects (tests).
  Backend(const PluginInfo& info, std::unique_ptr<Plugin> plugin,
          std::vector<std::pair<const FilterInfo*, std::unique_ptr<Filter>>> filters);
  ~Backend();

  const PluginInfo& plugin_info() const { return *info_; }
  Plugin& plugin() { return *plugin_; }
  size_t filter_count() const { return filters_.size(); }
  const FilterInfo& filter_info(size_t i) const { return *filters_[i].info; }
  Filter& filter(size_t i) { return *filters_[i].obj; }

  // Routes each KEY=VALUE to the first filter (closest to the client first) whose config()
  // claims it, else to the plugin; a bare VALUE first goes to the plugin's magic key. Then
  // calls config_complete on the plugin and every filter. Errors are "NAME: message".
  Status configure(const std::vector<Param>& params, bool complete = true);
  // Sets -D NAME.FLAG=N flags before configure. A flag for the plugin, a filter or "nbdkit"
  // that does not exist, or one naming none of them, gets a warning, as upstream.
  void apply_debug_flags(const std::vector<DebugSetting>& settings);
  ThreadModel thread_model();
  Status get_ready();
  Status after_fork();
  Status preconnect(const Peer& peer, bool readonly);
  Result<std::vector<ExportInfo>> list_exports(bool readonly, bool is_tls);
  Result<std::string> default_export(bool readonly, bool is_tls);
  // Opens every layer, outermost first (each filter's open calls next to open the one below);
  // each layer is prepared and asked its can_* as soon as it is open, so prepare runs nearest
  // the plugin first. Returns the outermost layer's boundary; finalize it before dropping it.
  Result<std::unique_ptr<Layer>> open(const OpenParams& params);
  void unload();

 private:
  struct FilterSlot {
    const FilterInfo* info;
    std::unique_ptr<Filter> obj;
  };
  Status config_at(size_t i, std::string_view key, std::string_view value);
  Result<std::vector<ExportInfo>> list_at(size_t i, bool readonly, bool is_tls);
  Result<std::string> default_at(size_t i, bool readonly, bool is_tls);
  Result<std::unique_ptr<Layer>> open_at(size_t i, const OpenParams& params);
  void bind_filters();
  NextExports next_exports(size_t i);
  std::string_view layer_name(size_t i) const;  // filter i, or the plugin for i == filter_count()

  const PluginInfo* info_;
  std::unique_ptr<Plugin> plugin_;
  std::vector<FilterSlot> filters_;
  bool unloaded_ = false;
};

}  // namespace nbd::server
