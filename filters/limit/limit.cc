// SPDX-License-Identifier: BSD-3-Clause
// limit filter: refuses clients beyond limit=N connected at once (default 1, 0 = no limit),
// like upstream's nbdkit-limit-filter. A client counts from its open until its close; the
// check runs in preconnect, so a refused client costs no plugin open, and again in open, for
// clients that passed preconnect together.
#include <mutex>

#include "nbd/filter.h"
#include "nbd/parse.h"

namespace nbd::filters {
namespace {

// Clients open now, shared by all connections.
class Counter {
 public:
  explicit Counter(const uint64_t& limit) : limit_(limit) {}
  bool full() {
    std::lock_guard l(mu_);
    return limit_ > 0 && open_ >= limit_;
  }
  bool try_add() {
    std::lock_guard l(mu_);
    if (limit_ > 0 && open_ >= limit_) return false;
    ++open_;
    return true;
  }
  void remove() {
    std::lock_guard l(mu_);
    --open_;
  }

 private:
  const uint64_t& limit_;
  std::mutex mu_;
  uint64_t open_ = 0;
};

Error too_many() { return make_error(EBUSY, "limit: too many clients connected, connection rejected"); }

class LimitConnection final : public FilterConnection {
 public:
  LimitConnection(std::unique_ptr<Connection> next, Counter& c) : FilterConnection(std::move(next)), c_(c) {}
  ~LimitConnection() override { c_.remove(); }

 private:
  Counter& c_;
};

class LimitFilter final : public Filter {
 public:
  Result<bool> config(std::string_view key, std::string_view value) override {
    if (key != "limit") return false;
    NBD_TRY_ASSIGN(limit_, parse_uint64(key, value));
    return true;
  }
  Status preconnect(const Peer& /*peer*/, bool /*readonly*/) override {
    return counter_.full() ? Status(too_many()) : ok();
  }
  Result<std::unique_ptr<Connection>> open(const OpenParams& params, const NextOpen& next) override {
    if (!counter_.try_add()) return too_many();
    auto below = next(params);
    if (!below) {
      counter_.remove();
      return below.error();
    }
    return std::unique_ptr<Connection>(std::make_unique<LimitConnection>(std::move(*below), counter_));
  }

 private:
  uint64_t limit_ = 1;
  Counter counter_{limit_};
};

constexpr ParamHelp kParams[] = {
    {"limit", "limit=N  Limit the number of concurrent clients to N (default 1, 0 = no limit)."},
};

}  // namespace

extern const FilterInfo limit_filter_info;
const FilterInfo limit_filter_info{
    .name = "limit",
    .description = "nbdkit limit filter: limit the number of concurrent clients",
    .params = kParams,
    .factory = [] { return std::unique_ptr<Filter>(std::make_unique<LimitFilter>()); },
};

}  // namespace nbd::filters
