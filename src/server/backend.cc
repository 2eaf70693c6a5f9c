// SPDX-License-Identifier: BSD-3-Clause
// Backend: the plugin + filter stack (see backend.h).
#include "server/backend.h"

#include <algorithm>

#include "nbd/log.h"
#include "server/guard.h"
#include "server/registry.h"
#include "server/trace.h"

namespace nbd::server {
namespace {

// "NAME: message", unless the plugin or filter already named itself (many messages are also
// shown by unit tests, where no server adds the name).
Error named(std::string_view name, Error e) {
  const std::string prefix = std::string(name) + ": ";
  if (e.message.compare(0, prefix.size(), prefix) != 0) e.message = prefix + e.message;
  return e;
}

}  // namespace

Result<std::unique_ptr<Backend>> Backend::load(const std::string& plugin,
                                               const std::vector<std::string>& filters) {
  NBD_TRY_ASSIGN(const PluginInfo* pi, find_plugin(plugin));
  std::vector<std::pair<const FilterInfo*, std::unique_ptr<Filter>>> fs;
  for (const auto& name : filters) {
    NBD_TRY_ASSIGN(const FilterInfo* fi, find_filter(name));
    fs.emplace_back(fi, fi->factory());
  }
  return std::make_unique<Backend>(*pi, pi->factory(), std::move(fs));
}

Backend::Backend(const PluginInfo& info, std::unique_ptr<Plugin> plugin,
                 std::vector<std::pair<const FilterInfo*, std::unique_ptr<Filter>>> filters)
    : info_(&info), plugin_(std::move(plugin)) {
  for (auto& [fi, f] : filters) filters_.push_back({fi, std::move(f)});
  bind_filters();
}

// Each filter may open contexts below itself outside of open (background work).
void Backend::bind_filters() {
  for (size_t i = 0; i < filters_.size(); ++i)
    filters_[i].obj->bind_below_for_core(
        [this, i](const OpenParams& p) -> Result<std::unique_ptr<Connection>> {
          NBD_TRY_ASSIGN(auto l, open_at(i + 1, p));
          return std::unique_ptr<Connection>(std::move(l));
        });
}

Backend::~Backend() { unload(); }

void Backend::apply_debug_flags(const std::vector<DebugSetting>& settings) {
  for (const auto& d : settings) {
    bool ours = d.name == "nbdkit";
    for (size_t i = 0; i <= filters_.size() && !ours; ++i) ours = layer_name(i) == d.name;
    DebugFlag* flag = find_debug_flag(d.name, d.flag);
    if (flag && ours) {
      flag->set(d.value);
    } else if (ours) {
      log::warning("-D %s.%s: %s has no debug flag called %s", d.name.c_str(), d.flag.c_str(), d.name.c_str(),
                   d.flag.c_str());
    } else {
      log::warning("debug flag -D %s.%s was not used: %s is neither the plugin nor a filter", d.name.c_str(),
                   d.flag.c_str(), d.name.c_str());
    }
  }
}

// Offers KEY=VALUE to filter i, which consumes, forwards or rewrites it; past the last filter,
// to the plugin. Each error is named once, by the layer that gave it.
Status Backend::config_at(size_t i, std::string_view key, std::string_view value) {
  if (i == filters_.size()) {
    trace_call(info_->name, "config key=%.*s, value=%.*s", int(key.size()), key.data(), int(value.size()),
               value.data());
    auto r = guard("config", [&] { return plugin_->config(key, value); });
    if (!r) return named(info_->name, std::move(r).error());
    return ok();
  }
  bool forwarded = false, below_failed = false;
  NextConfig next = [&](std::string_view k, std::string_view v) {
    forwarded = true;
    Status s = config_at(i + 1, k, v);
    if (!s) below_failed = true;
    return s;
  };
  auto r = guard("config", [&] { return filters_[i].obj->config(key, value, next); });
  if (!r) return below_failed ? std::move(r).error() : named(filters_[i].info->name, std::move(r).error());
  if (!forwarded)
    trace_call(filters_[i].info->name, "config key=%.*s, value=%.*s", int(key.size()), key.data(),
               int(value.size()), value.data());
  return ok();
}

Status Backend::configure(const std::vector<Param>& params, bool complete) {
  for (size_t i = 0; i < params.size(); ++i) {
    const Param& p = params[i];
    if (!p.key.empty()) {
      NBD_TRY(config_at(0, p.key, p.value));
    } else if (!info_->magic_config_key.empty()) {
      // Like upstream, every bare VALUE (not only the first) is the magic key's.
      NBD_TRY(config_at(0, info_->magic_config_key, p.value));
    } else {
      return make_error(EINVAL, std::string(info_->name) + ": '" + p.value +
                                    "': parameters must be KEY=VALUE" +
                                    (i == 0 ? " (this plugin has no default key)" : ""));
    }
  }
  if (!complete) return ok();
  trace_call(info_->name, "config_complete");
  auto r = guard("config_complete", [&] { return plugin_->config_complete(); });
  if (!r) return named(info_->name, std::move(r).error());
  for (auto it = filters_.rbegin(); it != filters_.rend(); ++it) {
    trace_call(it->info->name, "config_complete");
    auto fr = guard("config_complete", [&] { return it->obj->config_complete(); });
    if (!fr) return named(it->info->name, std::move(fr).error());
  }
  return ok();
}

ThreadModel Backend::thread_model() {
  ThreadModel m = plugin_->thread_model();
  for (auto& f : filters_) m = std::min(m, f.obj->thread_model());
  return m;
}

Status Backend::get_ready() {
  trace_call(info_->name, "get_ready");
  auto r = guard("get_ready", [&] { return plugin_->get_ready(); });
  if (!r) return named(info_->name, std::move(r).error());
  const ThreadModel model = thread_model();
  for (auto it = filters_.rbegin(); it != filters_.rend(); ++it) {
    trace_call(it->info->name, "get_ready");
    auto fr = guard("get_ready", [&] { return it->obj->get_ready(model); });
    if (!fr) return named(it->info->name, std::move(fr).error());
  }
  return ok();
}

Status Backend::after_fork() {
  trace_call(info_->name, "after_fork");
  auto r = guard("after_fork", [&] { return plugin_->after_fork(); });
  if (!r) return named(info_->name, std::move(r).error());
  for (auto it = filters_.rbegin(); it != filters_.rend(); ++it) {
    trace_call(it->info->name, "after_fork");
    auto fr = guard("after_fork", [&] { return it->obj->after_fork(); });
    if (!fr) return named(it->info->name, std::move(fr).error());
  }
  return ok();
}

Status Backend::preconnect(const Peer& peer, bool readonly) {
  for (auto& f : filters_) {
    trace_call(f.info->name, "preconnect");
    NBD_TRY(guard("preconnect", [&] { return f.obj->preconnect(peer, readonly); }));
  }
  trace_call(info_->name, "preconnect");
  return guard("preconnect", [&] { return plugin_->preconnect(peer, readonly); });
}

NextExports Backend::next_exports(size_t i) {
  return NextExports{
      [this, i](bool ro, bool tls) { return list_at(i + 1, ro, tls); },
      [this, i](bool ro, bool tls) { return default_at(i + 1, ro, tls); },
  };
}

Result<std::vector<ExportInfo>> Backend::list_at(size_t i, bool readonly, bool is_tls) {
  trace_call(layer_name(i), "list_exports readonly=%d tls=%d", int(readonly), int(is_tls));
  if (i == filters_.size())
    return guard("list_exports", [&] { return plugin_->list_exports(readonly, is_tls); });
  return guard("list_exports",
               [&] { return filters_[i].obj->list_exports(readonly, is_tls, next_exports(i)); });
}

Result<std::string> Backend::default_at(size_t i, bool readonly, bool is_tls) {
  trace_call(layer_name(i), "default_export readonly=%d tls=%d", int(readonly), int(is_tls));
  if (i == filters_.size())
    return guard("default_export", [&] { return plugin_->default_export(readonly, is_tls); });
  return guard("default_export",
               [&] { return filters_[i].obj->default_export(readonly, is_tls, next_exports(i)); });
}

Result<std::vector<ExportInfo>> Backend::list_exports(bool readonly, bool is_tls) {
  return list_at(0, readonly, is_tls);
}
Result<std::string> Backend::default_export(bool readonly, bool is_tls) {
  return default_at(0, readonly, is_tls);
}

std::string_view Backend::layer_name(size_t i) const {
  return i == filters_.size() ? info_->name : filters_[i].info->name;
}

Result<std::unique_ptr<Layer>> Backend::open_at(size_t i, const OpenParams& params) {
  std::string name(layer_name(i));
  trace_call(name, "open readonly=%d exportname=\"%s\" tls=%d", int(params.readonly),
             params.export_name.c_str(), int(params.is_tls));
  return guard("open", [&]() -> Result<std::unique_ptr<Layer>> {
    Result<std::unique_ptr<Connection>> c = make_error(EIO, "");
    if (i == filters_.size()) {
      c = plugin_->open(params);
    } else {
      NextOpen next = [this, i](const OpenParams& p) -> Result<std::unique_ptr<Connection>> {
        NBD_TRY_ASSIGN(auto l, open_at(i + 1, p));
        return std::unique_ptr<Connection>(std::move(l));
      };
      c = filters_[i].obj->open(params, next);
    }
    if (!c) return std::move(c).error();
    if (!*c) return make_error(EIO, name + ": open returned no connection");
    // Traced inside the boundary: the lines show what the layer itself is asked.
    return Layer::open(traced(name, std::move(*c)), params.readonly);
  });
}

Result<std::unique_ptr<Layer>> Backend::open(const OpenParams& params) { return open_at(0, params); }

void Backend::unload() {
  if (unloaded_) return;
  unloaded_ = true;
  for (auto& f : filters_) {
    trace_call(f.info->name, "unload");
    try {
      f.obj->unload();
    } catch (...) {
    }
  }
  trace_call(info_->name, "unload");
  try {
    plugin_->unload();
  } catch (...) {
  }
}

}  // namespace nbd::server
