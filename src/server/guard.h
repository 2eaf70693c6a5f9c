// SPDX-License-Identifier: BSD-3-Clause
// Calls into plugin/filter code through guard(): a stray exception becomes an EIO Error plus
// a log line, so nothing thrown by a plugin ever crosses into the server core.
#pragma once

#include <exception>
#include <string>

#include "nbd/log.h"
#include "nbd/result.h"

namespace nbd::server {

template <class F>
auto guard(const char* what, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const std::exception& e) {
    log::error("%s: unexpected exception: %s", what, e.what());
    return make_error(EIO, std::string(what) + ": unexpected exception: " + e.what());
  } catch (...) {
    log::error("%s: unexpected exception", what);
    return make_error(EIO, std::string(what) + ": unexpected exception");
  }
}

}  // namespace nbd::server
