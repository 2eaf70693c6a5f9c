// SPDX-License-Identifier: BSD-3-Clause
// noparallel filter: imposes a stricter thread model on the whole stack (serialize=requests,
// all-requests or connections), like upstream's nbdkit-noparallel-filter.
#include <string>

#include "nbd/filter.h"

namespace nbd::filters {
namespace {

// With one client at a time there is nothing for multi-conn to promise.
class NoMultiConn final : public FilterConnection {
 public:
  using FilterConnection::FilterConnection;
  Result<bool> can_multi_conn() override { return false; }
};

class NoparallelFilter final : public Filter {
 public:
  Result<bool> config(std::string_view key, std::string_view value) override {
    if (key != "serialize") return false;
    if (value == "requests")
      model_ = ThreadModel::SerializeRequests;
    else if (value == "all-requests")
      model_ = ThreadModel::SerializeAllRequests;
    else if (value == "connections")
      model_ = ThreadModel::SerializeConnections;
    else
      return make_error(
          EINVAL, "serialize=" + std::string(value) +
                      ": unknown noparallel serialize mode (use requests, all-requests or connections)");
    return true;
  }
  ThreadModel thread_model() override { return model_; }
  Result<std::unique_ptr<Connection>> open(const OpenParams& params, const NextOpen& next) override {
    NBD_TRY_ASSIGN(auto below, next(params));
    if (model_ != ThreadModel::SerializeConnections) return below;
    return std::unique_ptr<Connection>(std::make_unique<NoMultiConn>(std::move(below)));
  }

 private:
  ThreadModel model_ = ThreadModel::SerializeRequests;
};

constexpr ParamHelp kParams[] = {
    {"serialize", "serialize=requests|all-requests|connections  How much to serialize (default requests)."},
};

}  // namespace

extern const FilterInfo noparallel_filter_info;
const FilterInfo noparallel_filter_info{
    .name = "noparallel",
    .description = "nbdkit noparallel filter: serialize requests or connections",
    .params = kParams,
    .factory = [] { return std::unique_ptr<Filter>(std::make_unique<NoparallelFilter>()); },
};

}  // namespace nbd::filters
