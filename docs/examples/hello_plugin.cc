// SPDX-License-Identifier: BSD-3-Clause
// An out-of-tree nbdkit++ plugin, built as a shared object against include/nbd/ only:
//   g++ -std=c++20 -shared -fPIC -I include docs/examples/hello_plugin.cc -o hello.so
//   nbdkit -U - ./hello.so greeting=hi --run 'nbdinfo --list "$uri"'
// It serves two read-only exports, "hello" (the default) and "world", whose bytes are the
// greeting followed by the export name, repeated; each export has a description.
#include <algorithm>
#include <cerrno>
#include <string>

#include "nbd/parse.h"
#include "nbd/plugin.h"

namespace {

class HelloConnection final : public nbd::Connection {
 public:
  HelloConnection(std::string text, uint64_t size, std::string description)
      : text_(std::move(text)), size_(size), description_(std::move(description)) {}

  nbd::Result<uint64_t> get_size() override { return size_; }
  nbd::Result<std::string> export_description() override { return description_; }
  nbd::Result<bool> can_multi_conn() override { return true; }
  nbd::Result<nbd::CacheMode> can_cache() override { return nbd::CacheMode::Emulate; }

  nbd::Status pread(std::span<std::byte> buf, uint64_t offset, uint32_t) override {
    for (size_t i = 0; i < buf.size(); ++i) buf[i] = std::byte(text_[(offset + i) % text_.size()]);
    return nbd::ok();
  }

 private:
  std::string text_;
  uint64_t size_;
  std::string description_;
};

class HelloPlugin final : public nbd::Plugin {
 public:
  nbd::Status config(std::string_view key, std::string_view value) override {
    if (key == "greeting") {
      if (value.empty()) return nbd::make_error(EINVAL, "greeting=: must not be empty");
      greeting_ = value;
      return nbd::ok();
    }
    if (key == "size") {
      NBD_TRY_ASSIGN(size_, nbd::parse_size(key, value));
      return nbd::ok();
    }
    return Plugin::config(key, value);
  }
  nbd::Result<std::vector<nbd::ExportInfo>> list_exports(bool, bool) override {
    return std::vector<nbd::ExportInfo>{{"hello", "the default export"}, {"world", "the other export"}};
  }
  nbd::Result<std::string> default_export(bool, bool) override { return std::string("hello"); }
  nbd::Result<std::unique_ptr<nbd::Connection>> open(const nbd::OpenParams& p) override {
    if (p.export_name != "hello" && p.export_name != "world")
      return nbd::make_error(ENOENT, "no export named '" + p.export_name + "' (try hello or world)");
    std::string desc = p.export_name == "hello" ? "the default export" : "the other export";
    return std::unique_ptr<nbd::Connection>(
        std::make_unique<HelloConnection>(greeting_ + " " + p.export_name + "\n", size_, desc));
  }

 private:
  std::string greeting_ = "hello";
  uint64_t size_ = 1024 * 1024;
};

constexpr nbd::ParamHelp kParams[] = {
    {"greeting", "greeting=TEXT  Text the exports repeat (default \"hello\")."},
    {"size", "size=SIZE  Size of each export (default 1M)."},
};

const nbd::PluginInfo kInfo{
    .name = "hello",
    .description = "example out-of-tree plugin: two read-only exports of repeated text",
    .magic_config_key = "greeting",
    .params = kParams,
    .factory = [] { return std::unique_ptr<nbd::Plugin>(std::make_unique<HelloPlugin>()); },
};

}  // namespace

NBD_EXPORT_PLUGIN(kInfo)
