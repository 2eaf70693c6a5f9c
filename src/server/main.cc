// SPDX-License-Identifier: BSD-3-Clause
// nbdkit: parse the command line, load and configure the plugin/filter stack, then serve.
// Also --help, PLUGIN --help, --version, --dump-config and PLUGIN --dump-plugin.
#include <cstdio>
#include <string>

#include "common/gnutls_lib.h"
#include "nbd/log.h"
#include "server/backend.h"
#include "server/options.h"
#include "server/registry.h"
#include "server/server.h"

using namespace nbd;
using namespace nbd::server;

namespace {

constexpr const char* kVersion = "1.32.5";  // the upstream command line we are compatible with

int fail(const std::string& message) {
  std::fprintf(stderr, "nbdkit: %s\n", message.c_str());
  return 1;
}

void print_params(std::span<const ParamHelp> params) {
  for (const auto& p : params) std::printf("%.*s\n", int(p.help.size()), p.help.data());
}

int plugin_help(Backend& b) {
  const PluginInfo& pi = b.plugin_info();
  std::printf("%.*s\n", int(pi.description.size()), pi.description.data());
  print_params(pi.params);
  for (size_t i = 0; i < b.filter_count(); ++i) {
    const FilterInfo& fi = b.filter_info(i);
    std::printf("\n%.*s\n", int(fi.description.size()), fi.description.data());
    print_params(fi.params);
  }
  return 0;
}

int dump_plugin(Backend& b, const Options& o) {
  const PluginInfo& pi = b.plugin_info();
  std::printf("path=%s\n", o.plugin.c_str());
  std::printf("name=%.*s\n", int(pi.name.size()), pi.name.data());
  std::printf("version=%s\n", kVersion);
  std::printf("api_version=cpp-1\n");
  std::printf("description=%.*s\n", int(pi.description.size()), pi.description.data());
  if (!pi.magic_config_key.empty())
    std::printf("magic_config_key=%.*s\n", int(pi.magic_config_key.size()), pi.magic_config_key.data());
  std::printf("thread_model=%s\n", thread_model_name(b.plugin().thread_model()));
  for (const auto& line : b.plugin().dump_plugin()) std::printf("%s\n", line.c_str());
  for (size_t i = 0; i < b.filter_count(); ++i)
    for (const auto& line : b.filter(i).dump_filter()) std::printf("%s\n", line.c_str());
  return 0;
}

int dump_config() {
  std::printf("binary=nbdkit\n");
  std::printf("version=%s\n", kVersion);
  std::printf("version_major=1\nversion_minor=32\n");
  std::printf("host_os=linux-gnu\n");
  std::printf("tls=%s\nzstd=yes\n", nbd::tls::load_gnutls() ? "yes" : "no");
  std::printf("root_tls_certificates_dir=/etc/pki/nbdkit\n");
  std::string plugins, filters;
  for (const PluginInfo* p : builtin_plugins())
    plugins += (plugins.empty() ? "" : " ") + std::string(p->name);
  for (const FilterInfo* f : builtin_filters())
    filters += (filters.empty() ? "" : " ") + std::string(f->name);
  std::printf("plugindir=%s\n", plugin_dir());
  std::printf("filterdir=%s\n", filter_dir());
  std::printf("plugins=%s\n", plugins.c_str());
  std::printf("filters=%s\n", filters.c_str());
  return 0;
}

void setup_log(const Options& o) {
  log::set_program("nbdkit");
  log::set_verbose(o.verbose);
  if (o.log == "syslog")
    log::set_destination(log::Destination::Syslog);
  else if (o.log == "null")
    log::set_destination(log::Destination::Null);
}

}  // namespace

int main(int argc, char** argv) {
  auto parsed = parse_options(argc, argv);
  if (!parsed) return fail(parsed.error().message);
  const Options& o = *parsed;
  switch (o.mode) {
    case Mode::Help: std::fputs(usage_text(), stdout); return 0;
    case Mode::Version: std::printf("nbdkit %s (nbdkit++)\n", kVersion); return 0;
    case Mode::DumpConfig: return dump_config();
    case Mode::LongOptions: std::fputs(option_list(true).c_str(), stdout); return 0;
    case Mode::ShortOptions: std::fputs(option_list(false).c_str(), stdout); return 0;
    default: break;
  }
  setup_log(o);
  log::debug("nbdkit %s (nbdkit++)", kVersion);
  auto backend = Backend::load(o.plugin, o.filters);
  if (!backend) return fail(backend.error().message);
  Backend& b = **backend;
  if (o.mode == Mode::PluginHelp) return plugin_help(b);
  if (o.mode == Mode::DumpPlugin) {
    // As upstream: parameters given with --dump-plugin are configured first, so a script
    // plugin (python, sh) has loaded its script and can add its own lines.
    if (Status s = b.configure(o.params, false); !s) return fail(s.error().message);
    return dump_plugin(b, o);
  }
  b.apply_debug_flags(o.debug);
  if (Status s = b.configure(o.params); !s) return fail(s.error().message);
  if (Status s = b.get_ready(); !s) return fail(s.error().message);
  return serve(o, b);
}
