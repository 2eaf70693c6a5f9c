// SPDX-License-Identifier: BSD-3-Clause
// The opt_* calls of opt mode: each enters its option's state from NEGOTIATING and runs the
// state machine until its replies are in (the same option states the automatic path uses).
#include "client/impl.h"

namespace nbd::client {

using namespace nbd::protocol;

Status Handle::Impl::start_user_option(State s, OptionData data) {
  if (state != State::Negotiating)
    return fail(EINVAL, "invalid state: %s: the handle must be negotiating (set_opt_mode)",
                client::state_name(state));
  goal = Goal::UserOpt;
  opt_status = ok();
  if (!fixed_newstyle) {
    if (s != State::OptGo) return fail(ENOTSUP, "server is not fixed newstyle: only opt_go is possible");
    start_export_name();
  } else if (s == State::OptGo || s == State::OptInfo) {
    start_go(s);
  } else {
    start_option(s, std::move(data));
  }
  const auto start = std::chrono::steady_clock::now();
  while (is_connecting(state)) {
    bool did;
    Status st = poll_handshake(start, &did);
    if (!st) break;
  }
  // The caller's callback lives only as long as its call.
  if (auto* l = std::get_if<ListOption>(&opt)) l->cb = nullptr;
  if (auto* m = std::get_if<MetaOption>(&opt)) m->cb = nullptr;
  goal = Goal::Connect;
  if (state == State::Dead) return last_error();
  return opt_status;
}

Status Handle::opt_go() {
  NBD_HANDLE_CALL("nbd_opt_go");
  return impl_->start_user_option(State::OptGo);
}

Status Handle::opt_info() {
  NBD_HANDLE_CALL("nbd_opt_info");
  return impl_->start_user_option(State::OptInfo);
}

Status Handle::opt_abort() {
  NBD_HANDLE_CALL("nbd_opt_abort");
  return impl_->start_user_option(State::OptAbort);
}

Result<int> Handle::opt_list(const ListCallback& cb) {
  NBD_HANDLE_CALL("nbd_opt_list");
  NBD_TRY(impl_->start_user_option(State::OptList, ListOption{&cb}));
  return impl_->opt_data<ListOption>().count;
}

Result<int> Handle::opt_list_meta_context(const ContextCallback& cb) {
  NBD_HANDLE_CALL("nbd_opt_list_meta_context");
  NBD_TRY(impl_->start_user_option(State::OptListMetaContext, MetaOption{&cb}));
  return impl_->opt_data<MetaOption>().count;
}

Result<int> Handle::opt_set_meta_context(const ContextCallback& cb) {
  NBD_HANDLE_CALL("nbd_opt_set_meta_context");
  if (!impl_->sr)
    return impl_->fail(ENOTSUP, "server lacks structured replies, so meta contexts are not possible");
  NBD_TRY(impl_->start_user_option(State::OptSetMetaContext, MetaOption{&cb}));
  return impl_->opt_data<MetaOption>().count;
}

Result<bool> Handle::opt_structured_reply() {
  NBD_HANDLE_CALL("nbd_opt_structured_reply");
  NBD_TRY(impl_->start_user_option(State::OptStructuredReply));
  return impl_->opt_data<SwitchOption>().agreed;
}

Result<bool> Handle::opt_extended_headers() {
  NBD_HANDLE_CALL("nbd_opt_extended_headers");
  NBD_TRY(impl_->start_user_option(State::OptExtendedHeaders));
  return impl_->opt_data<SwitchOption>().agreed;
}

Result<bool> Handle::opt_starttls() {
  NBD_HANDLE_CALL("nbd_opt_starttls");
  if (impl_->tls_on) return true;
  NBD_TRY(impl_->start_user_option(State::OptStartTls));
  return impl_->opt_data<SwitchOption>().agreed;
}

}  // namespace nbd::client
