// SPDX-License-Identifier: BSD-3-Clause
// readonly filter: makes the plugin read-only, always, or at run time while readonly-file=PATH
// exists, like upstream's nbdkit-readonly-filter (nbdkit 1.38). Writes refused while read-only
// fail with EPERM.
#include <unistd.h>

#include <string>

#include "nbd/filter.h"

namespace nbd::filters {
namespace {

class ReadonlyConnection final : public FilterConnection {
 public:
  // file: the switch; empty means always read-only.
  ReadonlyConnection(std::unique_ptr<Connection> next, const std::string& file)
      : FilterConnection(std::move(next)), file_(file) {}

  Result<bool> can_write() override {
    if (file_.empty()) return false;
    return next().can_write();
  }
  Status pwrite(std::span<const std::byte> buf, uint64_t offset, uint32_t flags) override {
    NBD_TRY(check());
    return next().pwrite(buf, offset, flags);
  }
  Status trim(uint64_t count, uint64_t offset, uint32_t flags) override {
    NBD_TRY(check());
    return next().trim(count, offset, flags);
  }
  Status zero(uint64_t count, uint64_t offset, uint32_t flags) override {
    NBD_TRY(check());
    return next().zero(count, offset, flags);
  }

 private:
  // Checked on every write, so creating or removing the file switches at once.
  Status check() {
    if (file_.empty() || ::access(file_.c_str(), F_OK) == 0)
      return make_error(EPERM, "readonly: the export is read-only" +
                                   (file_.empty() ? std::string() : " (" + file_ + " exists)"));
    return ok();
  }
  const std::string& file_;
};

class ReadonlyFilter final : public Filter {
 public:
  Result<bool> config(std::string_view key, std::string_view value) override {
    if (key != "readonly-file") return false;
    if (value.empty()) return make_error(EINVAL, "readonly-file=: empty path");
    file_ = std::string(value);
    return true;
  }
  Result<std::unique_ptr<Connection>> open(const OpenParams& params, const NextOpen& next) override {
    NBD_TRY_ASSIGN(auto below, next(params));
    return std::unique_ptr<Connection>(std::make_unique<ReadonlyConnection>(std::move(below), file_));
  }

 private:
  std::string file_;  // written only while configuring
};

constexpr ParamHelp kParams[] = {
    {"readonly-file", "readonly-file=<FILE>  Read-only while FILE exists (default: always read-only)."},
};

}  // namespace

extern const FilterInfo readonly_filter_info;
const FilterInfo readonly_filter_info{
    .name = "readonly",
    .description = "nbdkit readonly filter: switch a plugin between read-only and writable",
    .params = kParams,
    .factory = [] { return std::unique_ptr<Filter>(std::make_unique<ReadonlyFilter>()); },
};

}  // namespace nbd::filters
