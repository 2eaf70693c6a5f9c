// SPDX-License-Identifier: BSD-3-Clause
// exitlast filter: the server exits cleanly when the last client disconnects, like upstream's
// nbdkit-exitlast-filter. It never exits before the first client has connected.
#include <mutex>

#include "nbd/filter.h"

namespace nbd::filters {
namespace {

// Clients open now; the one whose close brings it to zero asks the server to shut down.
class Clients {
 public:
  void add() {
    std::lock_guard l(mu_);
    ++open_;
  }
  void remove() {
    std::lock_guard l(mu_);
    if (--open_ == 0) nbd::shutdown_server();
  }

 private:
  std::mutex mu_;
  uint64_t open_ = 0;
};

class ExitlastConnection final : public FilterConnection {
 public:
  ExitlastConnection(std::unique_ptr<Connection> next, Clients& c)
      : FilterConnection(std::move(next)), c_(c) {
    c_.add();
  }
  ~ExitlastConnection() override { c_.remove(); }

 private:
  Clients& c_;
};

class ExitlastFilter final : public Filter {
 public:
  Result<std::unique_ptr<Connection>> open(const OpenParams& params, const NextOpen& next) override {
    NBD_TRY_ASSIGN(auto below, next(params));
    return std::unique_ptr<Connection>(std::make_unique<ExitlastConnection>(std::move(below), clients_));
  }

 private:
  Clients clients_;
};

}  // namespace

extern const FilterInfo exitlast_filter_info;
const FilterInfo exitlast_filter_info{
    .name = "exitlast",
    .description = "nbdkit exitlast filter: exit on last client connection",
    .params = {},
    .factory = [] { return std::unique_ptr<Filter>(std::make_unique<ExitlastFilter>()); },
};

}  // namespace nbd::filters
