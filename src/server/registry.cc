// SPDX-License-Identifier: BSD-3-Clause
// Plugin/filter lookup: built-in table first, dlopen for paths.
#include "server/registry.h"

#include <dlfcn.h>

#include <set>

#include "server/options.h"

namespace nbd::server {
namespace {

template <class Info>
Result<const Info*> load_so(const std::string& path, const char* symbol, const char* kind) {
  void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char* e = dlerror();
    return make_error(ENOENT, std::string("cannot open ") + kind + " '" + path + "': " + (e ? e : "dlopen failed"));
  }
  using Fn = const Info* (*)();
  auto fn = reinterpret_cast<Fn>(dlsym(h, symbol));
  if (!fn) {
    dlclose(h);
    return make_error(EINVAL, std::string(kind) + " '" + path + "' does not define " + symbol +
                                  " (use NBD_EXPORT_" + (kind[0] == 'p' ? "PLUGIN" : "FILTER") + ")");
  }
  const Info* info = fn();
  if (!info || !info->factory || info->name.empty()) {
    dlclose(h);
    return make_error(EINVAL, std::string(kind) + " '" + path + "': " + symbol + " returned an incomplete record");
  }
  return info;  // the handle stays open for the life of the process
}

}  // namespace

Result<const PluginInfo*> find_plugin(const std::string& name) {
  if (is_path_like(name)) return load_so<PluginInfo>(name, "nbdkit_cpp_plugin_info", "plugin");
  for (const PluginInfo* p : builtin_plugins())
    if (p->name == name) return p;
  return make_error(ENOENT, "unknown plugin '" + name + "' (see nbdkit --dump-config for the built-in plugins)");
}

Result<const FilterInfo*> find_filter(const std::string& name) {
  if (is_path_like(name)) return load_so<FilterInfo>(name, "nbdkit_cpp_filter_info", "filter");
  for (const FilterInfo* f : builtin_filters())
    if (f->name == name) return f;
  return make_error(ENOENT, "unknown filter '" + name + "' (see nbdkit --dump-config for the built-in filters)");
}

std::string first_duplicate_name_for_test(std::span<const PluginInfo* const> plugins) {
  std::set<std::string_view> seen;
  for (const PluginInfo* p : plugins)
    if (!seen.insert(p->name).second) return std::string(p->name);
  return {};
}

}  // namespace nbd::server
