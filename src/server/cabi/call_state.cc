// SPDX-License-Identifier: BSD-3-Clause
// The per-thread state behind the C ABI: which client a C plugin's call works for, and what
// the call reported with nbdkit_error / nbdkit_set_error (include/nbdkit-common.h).
#include "nbd/log.h"
#include "nbdkit-plugin.h"
#include "server/cabi/cabi.h"

namespace nbd::server::cabi {
namespace {
thread_local ClientContext* t_client = nullptr;
thread_local CallScope* t_call = nullptr;
}  // namespace

ClientScope::ClientScope(ClientContext* ctx) : saved_(t_client) { t_client = ctx; }
ClientScope::~ClientScope() { t_client = saved_; }
ClientContext* current_client() { return t_client; }

CallScope::CallScope() : outer_(t_call) { t_call = this; }

CallScope::~CallScope() {
  t_call = outer_;
  // The callback succeeded after all (or failure() took the message): what is left was
  // meant for the log.
  if (message_) log::error("%s", message_->c_str());
}

Error CallScope::failure(const char* what, bool errno_is_preserved, int saved_errno) {
  int err = errnum_ ? errnum_ : errno_is_preserved && saved_errno ? saved_errno : EIO;
  std::string msg = message_ ? std::move(*message_) : std::string(what) + " failed";
  message_.reset();
  return make_error(err, std::move(msg));
}

void record_error(std::string msg) {
  while (!msg.empty() && msg.back() == '\n') msg.pop_back();
  if (!t_call) {
    log::error("%s", msg.c_str());
    return;
  }
  if (t_call->message_) log::error("%s", t_call->message_->c_str());
  t_call->message_ = std::move(msg);
}

void record_errno(int err) {
  if (t_call) t_call->errnum_ = err;
}

std::vector<ParamHelp> split_config_help(const char* help) {
  std::vector<ParamHelp> out;
  if (!help) return out;
  std::string_view rest(help);
  while (!rest.empty()) {
    size_t nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    if (line.empty()) continue;
    out.push_back({line.substr(0, line.find_first_of("= \t")), line});
  }
  return out;
}

uint32_t to_c_flags(uint32_t f) {
  uint32_t r = 0;
  if (f & kFua) r |= NBDKIT_FLAG_FUA;
  if (f & kMayTrim) r |= NBDKIT_FLAG_MAY_TRIM;
  if (f & kReqOne) r |= NBDKIT_FLAG_REQ_ONE;
  if (f & kFastZero) r |= NBDKIT_FLAG_FAST_ZERO;
  return r;
}
uint32_t from_c_flags(uint32_t f) {
  uint32_t r = 0;
  if (f & NBDKIT_FLAG_FUA) r |= kFua;
  if (f & NBDKIT_FLAG_MAY_TRIM) r |= kMayTrim;
  if (f & NBDKIT_FLAG_REQ_ONE) r |= kReqOne;
  if (f & NBDKIT_FLAG_FAST_ZERO) r |= kFastZero;
  return r;
}

}  // namespace nbd::server::cabi
