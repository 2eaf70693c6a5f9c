// SPDX-License-Identifier: BSD-3-Clause
// The opt_* calls of opt mode: each enters its option's state from NEGOTIATING and runs the
// state machine until its replies are in (the same option states the automatic path uses).
#include "client/impl.h"

namespace nbd::client {

using namespace nbd::protocol;

// Enters the option's state from NEGOTIATING; the replies come in as the state machine runs.
Status Handle::Impl::begin_user_option(State s, OptionData data) {
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
  return ok();
}

Status Handle::Impl::start_user_option(State s, OptionData data) {
  NBD_TRY(begin_user_option(s, std::move(data)));
  const auto start = std::chrono::steady_clock::now();
  while (is_connecting(state)) {
    bool did;
    Status st = poll_handshake(start, &did);
    if (!st) break;
  }
  end_user_option();  // the caller's callback lives only as long as its call
  if (state == State::Dead) return last_error();
  return opt_status;
}

// A user option has ended: back to the automatic goal, and its state no longer points at
// the caller's list callback.
void Handle::Impl::end_user_option() {
  goal = Goal::Connect;
  if (auto* l = std::get_if<ListOption>(&opt)) l->cb = nullptr;
  if (auto* m = std::get_if<MetaOption>(&opt)) m->cb = nullptr;
}

// An aio_opt_* option has ended (replies in, or the handle died): its callback, then its
// callbacks are dropped. Runs inside the state machine, with the lock held.
void Handle::Impl::finish_async_option() {
  if (!opt_async) return;
  opt_async = false;
  end_user_option();
  int err = state == State::Dead ? (errnum ? errnum : EIO) : opt_status ? 0 : opt_status.error().errnum;
  CompletionCallback done = std::move(opt_done);
  opt_done = nullptr;
  if (done) done(&err);
  opt_list_cb = nullptr;
  opt_context_cb = nullptr;
}

static Status start_async_option(Handle::Impl& h, State s, CompletionCallback done, OptionData data = {}) {
  if (h.opt_async) return h.fail(EBUSY, "another option is still running");
  h.opt_done = std::move(done);
  Status st = h.begin_user_option(s, std::move(data));
  if (!st) {
    h.opt_done = nullptr;
    h.opt_list_cb = nullptr;
    h.opt_context_cb = nullptr;
    return st;
  }
  h.opt_async = true;
  return ok();
}

Status Handle::aio_opt_go(CompletionCallback done) {
  NBD_HANDLE_CALL("nbd_aio_opt_go");
  return start_async_option(*impl_, State::OptGo, std::move(done));
}
Status Handle::aio_opt_info(CompletionCallback done) {
  NBD_HANDLE_CALL("nbd_aio_opt_info");
  return start_async_option(*impl_, State::OptInfo, std::move(done));
}
Status Handle::aio_opt_abort() {
  NBD_HANDLE_CALL("nbd_aio_opt_abort");
  if (impl_->opt_async) return impl_->fail(EBUSY, "another option is still running");
  return impl_->begin_user_option(State::OptAbort, {});  // nothing to wait for: closed once sent
}
Status Handle::aio_opt_list(ListCallback cb, CompletionCallback done) {
  NBD_HANDLE_CALL("nbd_aio_opt_list");
  if (impl_->opt_async) return impl_->fail(EBUSY, "another option is still running");
  impl_->opt_list_cb = std::move(cb);
  return start_async_option(*impl_, State::OptList, std::move(done), ListOption{&impl_->opt_list_cb});
}
Status Handle::aio_opt_list_meta_context(ContextCallback cb, CompletionCallback done) {
  NBD_HANDLE_CALL("nbd_aio_opt_list_meta_context");
  if (impl_->opt_async) return impl_->fail(EBUSY, "another option is still running");
  impl_->opt_context_cb = std::move(cb);
  return start_async_option(*impl_, State::OptListMetaContext, std::move(done),
                            MetaOption{&impl_->opt_context_cb});
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
