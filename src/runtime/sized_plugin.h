// SPDX-License-Identifier: BSD-3-Clause
// A plugin whose only parameter is size= (its magic key) and whose connections are
// ConnT(size): the shape of null, pattern and full. `required_by` makes size= mandatory and
// names the plugin in the error, e.g. "size parameter is required (eg. full 1G)".
#pragma once

#include <memory>
#include <string>

#include "nbd/parse.h"
#include "nbd/plugin.h"

namespace nbd {

template <class ConnT>
class SizedPlugin final : public Plugin {
 public:
  explicit SizedPlugin(const char* required_by = nullptr) : required_by_(required_by) {}
  Status config(std::string_view key, std::string_view value) override {
    if (key != "size") return Plugin::config(key, value);
    NBD_TRY_ASSIGN(size_, parse_size(key, value));
    have_size_ = true;
    return ok();
  }
  Status config_complete() override {
    if (required_by_ && !have_size_)
      return make_error(EINVAL, std::string("size parameter is required (eg. ") + required_by_ + " 1G)");
    return ok();
  }
  Result<std::unique_ptr<Connection>> open(const OpenParams&) override {
    return std::unique_ptr<Connection>(std::make_unique<ConnT>(size_));
  }

 private:
  const char* required_by_;
  uint64_t size_ = 0;
  bool have_size_ = false;
};

}  // namespace nbd
