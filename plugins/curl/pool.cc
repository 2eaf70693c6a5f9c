// SPDX-License-Identifier: BSD-3-Clause
// The curl plugin's handle pool.
#include "plugins/curl/pool.h"

namespace nbd::plugins::curl_plugin {

Result<std::unique_ptr<Easy>> Pool::take() {
  std::unique_lock lock(mu_);
  freed_.wait(lock, [this] { return !free_.empty() || made_ < max_; });
  if (!free_.empty()) {
    std::unique_ptr<Easy> e = std::move(free_.back());
    free_.pop_back();
    return e;
  }
  made_++;
  lock.unlock();
  auto e = Easy::create(o_, share_);
  if (!e) {
    lock.lock();
    made_--;
    freed_.notify_one();
  }
  return e;
}

Status Pool::refresh(Easy& e) {
  if (!scripts_ || !scripts_->any()) return ok();
  NBD_TRY_ASSIGN(auto gen, scripts_->current());
  return e.use(*gen);
}

void Pool::give_back(std::unique_ptr<Easy> e) {
  std::lock_guard lock(mu_);
  free_.push_back(std::move(e));
  freed_.notify_one();
}

}  // namespace nbd::plugins::curl_plugin
