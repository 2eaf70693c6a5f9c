// SPDX-License-Identifier: BSD-3-Clause
// rotational filter: sets or clears the export's rotational flag (NBD_FLAG_ROTATIONAL) whatever
// the plugin says (rotational=true by default), like upstream's nbdkit-rotational-filter (1.40).
#include "nbd/filter.h"
#include "nbd/parse.h"

namespace nbd::filters {
namespace {

class RotationalConnection final : public FilterConnection {
 public:
  RotationalConnection(std::unique_ptr<Connection> next, bool rotational)
      : FilterConnection(std::move(next)), rotational_(rotational) {}
  Result<bool> is_rotational() override { return rotational_; }

 private:
  bool rotational_;
};

class RotationalFilter final : public Filter {
 public:
  Result<bool> config(std::string_view key, std::string_view value) override {
    if (key != "rotational") return false;
    NBD_TRY_ASSIGN(rotational_, parse_bool(key, value));
    return true;
  }
  Result<std::unique_ptr<Connection>> open(const OpenParams& params, const NextOpen& next) override {
    NBD_TRY_ASSIGN(auto below, next(params));
    return std::unique_ptr<Connection>(std::make_unique<RotationalConnection>(std::move(below), rotational_));
  }

 private:
  bool rotational_ = true;
};

constexpr ParamHelp kParams[] = {
    {"rotational", "rotational=<BOOL>  Advertise a rotational disk (default true) or not."},
};

}  // namespace

extern const FilterInfo rotational_filter_info;
const FilterInfo rotational_filter_info{
    .name = "rotational",
    .description = "nbdkit rotational filter: set if the export is rotational or not",
    .params = kParams,
    .factory = [] { return std::unique_ptr<Filter>(std::make_unique<RotationalFilter>()); },
};

}  // namespace nbd::filters
