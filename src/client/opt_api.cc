// SPDX-License-Identifier: BSD-3-Clause
// The opt_* calls of opt mode: each sends one option from the NEGOTIATING state and runs the
// state machine until its replies are in (the same option code the automatic path uses).
#include "client/impl.h"

namespace nbd::client {

using namespace nbd::protocol;

Status Handle::Impl::start_user_option(uint32_t option) {
  if (state != State::Negotiating)
    return fail(EINVAL, "invalid state: %s: the handle must be negotiating (set_opt_mode)", client::state_name(state));
  goal = Goal::UserOpt;
  user_opt = option;
  opt_status = ok();
  opt_count = 0;
  opt_bool = false;
  if (!fixed_newstyle) {
    if (option != uint32_t(Option::Go)) return fail(ENOTSUP, "server is not fixed newstyle: only opt_go is possible");
    start_export_name();
  } else {
    switch (Option(option)) {
      case Option::Go:
      case Option::Info: send_go_or_info(option); break;
      case Option::ListMetaContext:
      case Option::SetMetaContext: send_set_meta(option); break;
      default: send_option(option, {}); break;
    }
  }
  while (state == State::Option || state == State::TlsHandshake || state == State::ExportName) {
    bool did;
    Status st = poll_once(-1, &did);
    if (!st) break;
  }
  list_cb = nullptr;
  ctx_cb = nullptr;
  goal = Goal::Connect;
  if (state == State::Dead) return last_error();
  return opt_status;
}

Status Handle::opt_go() {
  NBD_HANDLE_CALL("nbd_opt_go");
  return impl_->start_user_option(uint32_t(Option::Go));
}

Status Handle::opt_info() {
  NBD_HANDLE_CALL("nbd_opt_info");
  return impl_->start_user_option(uint32_t(Option::Info));
}

Status Handle::opt_abort() {
  NBD_HANDLE_CALL("nbd_opt_abort");
  return impl_->start_user_option(uint32_t(Option::Abort));
}

Result<int> Handle::opt_list(const ListCallback& cb) {
  NBD_HANDLE_CALL("nbd_opt_list");
  impl_->list_cb = &cb;
  NBD_TRY(impl_->start_user_option(uint32_t(Option::List)));
  return impl_->opt_count;
}

Result<int> Handle::opt_list_meta_context(const ContextCallback& cb) {
  NBD_HANDLE_CALL("nbd_opt_list_meta_context");
  impl_->ctx_cb = &cb;
  NBD_TRY(impl_->start_user_option(uint32_t(Option::ListMetaContext)));
  return impl_->opt_count;
}

Result<int> Handle::opt_set_meta_context(const ContextCallback& cb) {
  NBD_HANDLE_CALL("nbd_opt_set_meta_context");
  if (!impl_->sr) return impl_->fail(ENOTSUP, "server lacks structured replies, so meta contexts are not possible");
  impl_->ctx_cb = &cb;
  NBD_TRY(impl_->start_user_option(uint32_t(Option::SetMetaContext)));
  return impl_->opt_count;
}

Result<bool> Handle::opt_structured_reply() {
  NBD_HANDLE_CALL("nbd_opt_structured_reply");
  NBD_TRY(impl_->start_user_option(uint32_t(Option::StructuredReply)));
  return impl_->opt_bool;
}

Result<bool> Handle::opt_extended_headers() {
  NBD_HANDLE_CALL("nbd_opt_extended_headers");
  NBD_TRY(impl_->start_user_option(uint32_t(Option::ExtendedHeaders)));
  return impl_->opt_bool;
}

Result<bool> Handle::opt_starttls() {
  NBD_HANDLE_CALL("nbd_opt_starttls");
  if (impl_->tls_on) return true;
  NBD_TRY(impl_->start_user_option(uint32_t(Option::StartTls)));
  return impl_->opt_bool;
}

}  // namespace nbd::client
