// SPDX-License-Identifier: BSD-3-Clause
// Plugin/filter lookup: built-in table first, dlopen for paths.
#include "server/registry.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include <set>

#include "server/cabi/c_filter.h"
#include "server/cabi/cabi.h"
#include "server/options.h"

namespace nbd::server {
namespace {

template <class Info>
Result<const Info*> load_so(const std::string& path, const char* symbol, const char* kind) {
  void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char* e = dlerror();
    return make_error(ENOENT,
                      std::string("cannot open ") + kind + " '" + path + "': " + (e ? e : "dlopen failed"));
  }
  using Fn = const Info* (*)();
  auto fn = reinterpret_cast<Fn>(dlsym(h, symbol));
  if (fn) {
    // Checked before the record is touched: a .so built against other headers would crash.
    using AbiFn = void (*)(uint32_t*, uint32_t*);
    auto abi = reinterpret_cast<AbiFn>(dlsym(h, "nbdkit_cpp_abi"));
    uint32_t version = 0, size = 0;
    if (abi) abi(&version, &size);
    if (Status s = check_cpp_abi(path, kind, abi != nullptr, version, size, sizeof(Info)); !s) {
      dlclose(h);
      return std::move(s).error();
    }
  }
  if (!fn) {
    dlclose(h);
    return make_error(EINVAL, std::string(kind) + " '" + path + "' does not define " + symbol +
                                  " (use NBD_EXPORT_" + (kind[0] == 'p' ? "PLUGIN" : "FILTER") + ")");
  }
  const Info* info = fn();
  if (!info || !info->factory || info->name.empty()) {
    dlclose(h);
    return make_error(EINVAL,
                      std::string(kind) + " '" + path + "': " + symbol + " returned an incomplete record");
  }
  return info;  // the handle stays open for the life of the process
}

}  // namespace

Status check_cpp_abi(const std::string& path, const char* kind, bool has_record, uint32_t version,
                     uint32_t size, size_t expected_size) {
  if (!has_record)
    return make_error(EINVAL, std::string(kind) + " '" + path +
                                  "' has no nbdkit++ API version record (rebuild it against these headers)");
  if (version != kCppAbiVersion || size != expected_size)
    return make_error(EINVAL, std::string(kind) + " '" + path +
                                  "' was built against nbdkit++ C++ API version " + std::to_string(version) +
                                  " (record size " + std::to_string(size) + "), this nbdkit has version " +
                                  std::to_string(kCppAbiVersion) + " (record size " +
                                  std::to_string(expected_size) + "): rebuild it against these headers");
  return ok();
}

namespace {
// An installed tree may be moved (a DESTDIR staging tree, a package unpacked elsewhere): the
// directory at the same place relative to this binary wins when it exists.
std::string relocated(const char* configured, const char* from_bindir) {
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) return configured;
  std::string dir(exe, static_cast<size_t>(n));
  dir.resize(dir.rfind('/') + 1);
  std::string candidate = dir + from_bindir;
  char real[4096];
  if (realpath(candidate.c_str(), real)) return real;
  return configured;
}
}  // namespace

const char* plugin_dir() {
  static const std::string dir = relocated(NBD_PLUGINDIR, NBD_PLUGINDIR_FROM_BINDIR);
  return dir.c_str();
}
const char* filter_dir() {
  static const std::string dir = relocated(NBD_FILTERDIR, NBD_FILTERDIR_FROM_BINDIR);
  return dir.c_str();
}

Result<const PluginInfo*> find_plugin(const std::string& name) {
  if (is_path_like(name)) {
    // A .so written for upstream's C API (it defines plugin_init) goes to the adapter.
    if (auto c = cabi::try_load_c_plugin(name)) return std::move(*c);
    return load_so<PluginInfo>(name, "nbdkit_cpp_plugin_info", "plugin");
  }
  for (const PluginInfo* p : builtin_plugins())
    if (p->name == name) return p;
  std::string installed = std::string(plugin_dir()) + "/nbdkit-" + name + "-plugin.so";
  if (access(installed.c_str(), F_OK) == 0) return find_plugin(installed);
  return make_error(ENOENT,
                    "unknown plugin '" + name + "' (see nbdkit --dump-config for the built-in plugins)");
}

Result<const FilterInfo*> find_filter(const std::string& name) {
  if (is_path_like(name)) {
    // A .so written for upstream's C filter API (it defines filter_init) goes to the adapter.
    if (auto c = cabi::try_load_c_filter(name)) return std::move(*c);
    return load_so<FilterInfo>(name, "nbdkit_cpp_filter_info", "filter");
  }
  for (const FilterInfo* f : builtin_filters())
    if (f->name == name) return f;
  std::string installed = std::string(filter_dir()) + "/nbdkit-" + name + "-filter.so";
  if (access(installed.c_str(), F_OK) == 0) return find_filter(installed);
  return make_error(ENOENT,
                    "unknown filter '" + name + "' (see nbdkit --dump-config for the built-in filters)");
}

std::string first_duplicate_name_for_test(std::span<const PluginInfo* const> plugins) {
  std::set<std::string_view> seen;
  for (const PluginInfo* p : plugins)
    if (!seen.insert(p->name).second) return std::string(p->name);
  return {};
}

}  // namespace nbd::server
