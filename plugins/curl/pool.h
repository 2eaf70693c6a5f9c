// SPDX-License-Identifier: BSD-3-Clause
// A pool of up to connections= easy handles shared by every NBD client, so that many requests
// run at once over as many HTTP connections, each kept alive between requests.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <vector>

#include "plugins/curl/easy.h"
#include "plugins/curl/scripts.h"

namespace nbd::plugins::curl_plugin {

class Pool {
 public:
  // o, share and scripts outlive the pool.
  Pool(const Options& o, Share* share, Scripts* scripts, unsigned max)
      : o_(o), share_(share), scripts_(scripts), max_(max) {}

  // Runs f(Easy&) on a free handle (made when none is free and fewer than max exist, else
  // waited for), with the scripts' current headers and cookie applied. Thread-safe.
  template <class F>
  auto with_handle(F&& f) -> decltype(f(std::declval<Easy&>())) {
    NBD_TRY_ASSIGN(std::unique_ptr<Easy> e, take());
    auto result = refresh(*e);
    if (!result) {
      give_back(std::move(e));
      return std::move(result).error();
    }
    auto r = f(*e);
    give_back(std::move(e));
    return r;
  }

 private:
  Result<std::unique_ptr<Easy>> take();
  Status refresh(Easy& e);
  void give_back(std::unique_ptr<Easy> e);

  const Options& o_;
  Share* share_;
  Scripts* scripts_;
  const unsigned max_;
  std::mutex mu_;
  std::condition_variable freed_;
  std::vector<std::unique_ptr<Easy>> free_;
  unsigned made_ = 0;
};

}  // namespace nbd::plugins::curl_plugin
