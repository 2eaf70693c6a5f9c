// SPDX-License-Identifier: BSD-3-Clause
// header-script= and cookie-script=: programs whose output becomes the HTTP headers and the
// cookie of every request, re-run when their renew time has passed (tokens that expire).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "nbd/result.h"
#include "plugins/curl/easy.h"

namespace nbd::plugins::curl_plugin {

struct ScriptConfig {
  std::optional<std::string> script;  // a shell fragment; unset: not used
  uint32_t renew_s = 0;               // 0: run once
};

// Thread-safe. The scripts see $url and $iteration (0 the first time), as upstream's do.
class Scripts {
 public:
  Scripts(std::string url, ScriptConfig header, ScriptConfig cookie)
      : url_(std::move(url)), header_(std::move(header)), cookie_(std::move(cookie)) {}
  bool any() const { return header_.script || cookie_.script; }
  // What requests send now: a script runs the first time and again once renew_s seconds have
  // passed since it last ran. A script that fails (or runs over a minute) fails the request.
  Result<std::shared_ptr<const Generated>> current();

 private:
  struct State {
    uint64_t iteration = 0;
    std::chrono::steady_clock::time_point ran_at{};
  };
  Result<std::string> run(const char* what, const ScriptConfig& c, State& st);
  bool due(const ScriptConfig& c, const State& st) const;

  const std::string url_;
  const ScriptConfig header_, cookie_;
  std::mutex mu_;
  State header_state_, cookie_state_;
  std::shared_ptr<const Generated> gen_ = std::make_shared<Generated>();
};

}  // namespace nbd::plugins::curl_plugin
