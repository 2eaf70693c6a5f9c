// SPDX-License-Identifier: BSD-3-Clause
// exportname filter: changes the export list a client sees (exportname-list=, exportname=),
// the default export (default-export=), which names may be opened (exportname-strict=) and
// the descriptions (exportdesc=), like upstream's nbdkit-exportname-filter.
#include <algorithm>
#include <array>
#include <string>
#include <vector>

#include "common/subprocess.h"
#include "nbd/filter.h"
#include "nbd/log.h"
#include "nbd/parse.h"

namespace nbd::filters {
namespace {

enum class ListMode { Keep, Error, Empty, DefaultOnly, Explicit };
constexpr std::array<std::string_view, 5> kListModes = {"keep", "error", "empty", "defaultonly", "explicit"};

struct Description {
  enum class Mode { Keep, None, Fixed, Script } mode = Mode::Keep;
  std::string text;  // the fixed string, or the script
};

// The script's stdout, less one trailing newline, as upstream. The export name is in $name.
// A script that cannot run or fails gives an empty description (and a log line).
std::string run_description_script(const std::string& script, const std::string& name) {
  Program p = Program::shell(script);
  p.set_env.push_back("name=" + name);
  p.in = Redirect::null();
  p.out = Redirect::pipe();
  auto r = run(p);
  if (!r) {
    log::error("exportname: exportdesc script: %s", r.error().message.c_str());
    return {};
  }
  if (!exited_ok(r->wait_status)) {
    log::error("exportname: exportdesc script %s", describe_wait_status(r->wait_status).c_str());
    return {};
  }
  if (!r->out.empty() && r->out.back() == '\n') r->out.pop_back();
  return std::move(r->out);
}

std::string describe(const Description& d, const std::string& name, std::string kept) {
  switch (d.mode) {
    case Description::Mode::Keep: return kept;
    case Description::Mode::None: return {};
    case Description::Mode::Fixed: return d.text;
    case Description::Mode::Script: return run_description_script(d.text, name);
  }
  return kept;
}

// Only needed when the description changes; otherwise the filter adds no layer.
class ExportnameConnection final : public FilterConnection {
 public:
  ExportnameConnection(std::unique_ptr<Connection> next, const Description& d, std::string name)
      : FilterConnection(std::move(next)), d_(d), name_(std::move(name)) {}

  Result<std::string> export_description() override {
    if (d_.mode != Description::Mode::Keep) return describe(d_, name_, {});
    return next().export_description();
  }

 private:
  const Description& d_;
  std::string name_;
};

class ExportnameFilter final : public Filter {
 public:
  Result<bool> config(std::string_view key, std::string_view value) override {
    if (key == "default-export") {
      default_ = value;
    } else if (key == "exportname") {
      exports_.emplace_back(value);
    } else if (key == "exportname-strict") {
      NBD_TRY_ASSIGN(strict_, parse_bool(key, value));
    } else if (key == "exportname-list") {
      auto it = std::find(kListModes.begin(), kListModes.end(), value);
      if (it == kListModes.end())
        return make_error(EINVAL, "exportname: exportname-list=" + std::string(value) +
                                      ": unknown mode (use keep, error, empty, defaultonly or explicit)");
      list_ = ListMode(it - kListModes.begin());
    } else if (key == "exportdesc") {
      NBD_TRY(parse_description(value));
    } else {
      return false;
    }
    return true;
  }

  Result<std::vector<ExportInfo>> list_exports(bool readonly, bool is_tls, const NextExports& next) override {
    std::vector<ExportInfo> list;
    switch (list_) {
      case ListMode::Keep: {
        NBD_TRY_ASSIGN(list, next.list_exports(readonly, is_tls));
        break;
      }
      case ListMode::Error: return make_error(EPERM, "exportname: export list restricted by policy");
      case ListMode::Empty: break;
      case ListMode::DefaultOnly: {
        NBD_TRY_ASSIGN(std::string name, default_export(readonly, is_tls, next));
        list.push_back({std::move(name), {}});
        break;
      }
      case ListMode::Explicit:
        for (const auto& n : exports_) list.push_back({n, {}});
        break;
    }
    for (auto& e : list) e.description = describe(desc_, e.name, std::move(e.description));
    return list;
  }

  // Strict mode lets a client ask for "" only when exportname= listed it.
  Result<std::string> default_export(bool readonly, bool is_tls, const NextExports& next) override {
    if (strict_ && !listed("")) return make_error(ENOENT, "exportname: default export (\"\") not permitted");
    if (!default_.empty()) return default_;
    return next.default_export(readonly, is_tls);
  }

  Result<std::unique_ptr<Connection>> open(const OpenParams& params, const NextOpen& next) override {
    OpenParams p = params;
    if (p.export_name.empty() && !default_.empty()) p.export_name = default_;
    if (strict_ && !listed(p.export_name))
      return make_error(ENOENT, "exportname: export '" + p.export_name + "' not found");
    NBD_TRY_ASSIGN(auto below, next(p));
    if (desc_.mode == Description::Mode::Keep) return below;
    return std::unique_ptr<Connection>(
        std::make_unique<ExportnameConnection>(std::move(below), desc_, std::move(p.export_name)));
  }

 private:
  bool listed(const std::string& name) const {
    return std::find(exports_.begin(), exports_.end(), name) != exports_.end();
  }
  Status parse_description(std::string_view value) {
    using Mode = Description::Mode;
    if (value == "keep") {
      desc_ = {Mode::Keep, {}};
    } else if (value == "none") {
      desc_ = {Mode::None, {}};
    } else if (value.starts_with("fixed:")) {
      desc_ = {Mode::Fixed, std::string(value.substr(6))};
    } else if (value.starts_with("script:")) {
      desc_ = {Mode::Script, std::string(value.substr(7))};
    } else {
      return make_error(EINVAL, "exportname: exportdesc=" + std::string(value) +
                                    ": unknown mode (use keep, none, fixed:STRING or script:SCRIPT)");
    }
    return ok();
  }

  std::string default_;
  std::vector<std::string> exports_;
  bool strict_ = false;
  ListMode list_ = ListMode::Keep;
  Description desc_;
};

constexpr ParamHelp kParams[] = {
    {"default-export", "default-export=<NAME>  Canonical name for the \"\" default export."},
    {"exportname", "exportname=<NAME>  Add an export name (may be repeated)."},
    {"exportname-list", "exportname-list=<MODE>  keep (default), error, empty, defaultonly, explicit."},
    {"exportname-strict", "exportname-strict=<BOOL>  Allow only the exportname= names (default false)."},
    {"exportdesc", "exportdesc=<DESC>  keep (default), none, fixed:STRING or script:SCRIPT."},
};

}  // namespace

extern const FilterInfo exportname_filter_info;
const FilterInfo exportname_filter_info{
    .name = "exportname",
    .description = "nbdkit exportname filter: adjust export names between client and plugin",
    .params = kParams,
    .factory = [] { return std::unique_ptr<Filter>(std::make_unique<ExportnameFilter>()); },
};

}  // namespace nbd::filters
