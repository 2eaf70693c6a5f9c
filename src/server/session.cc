// SPDX-License-Identifier: BSD-3-Clause
// Session lifecycle: thread-model locks, preconnect, handshake, transmission, close.
#include "server/session.h"

#include "nbd/log.h"
#include "server/peer.h"
#include "server/transmission.h"

namespace nbd::server {

Session::Session(ServerContext& ctx, int in_fd, int out_fd, uint64_t id)
    : ctx_(ctx), io_(in_fd, out_fd), id_(id) {}

Session::~Session() = default;

void Session::run() {
  std::string log_context = std::string(ctx_.backend.plugin_info().name) + "[" + std::to_string(id_) + "]";
  log::set_thread_context(log_context);
  std::unique_lock<std::mutex> serial(ctx_.all_connections, std::defer_lock);
  if (ctx_.model == ThreadModel::SerializeConnections) serial.lock();
  ClientScope client(io_.in_fd());
  peer_ = peer_of(io_.in_fd());
  // Before a byte is read from the client: a refused client never sees the greeting.
  if (Status s = ctx_.backend.preconnect(peer_, ctx_.opts.readonly); !s) {
    log::error("preconnect: %s", s.error().message.c_str());
    return;
  }
  if (Status s = handshake(); !s) {
    if (s.error().errnum) log::debug("handshake: %s", s.error().message.c_str());
    close_export();
    return;
  }
  log::debug("handshake complete: export '%s', size %llu, flags 0x%x", export_name_.c_str(),
             static_cast<unsigned long long>(caps_.size), unsigned(eflags_));
  {
    Transmitter t(ctx_, io_, *conn_, caps_, log_context);
    t.run();
  }
  close_export();
}

void Session::close_export() {
  if (!conn_) return;
  if (Status s = conn_->finalize(); !s) log::error("finalize: %s", s.error().message.c_str());
  conn_.reset();
}

}  // namespace nbd::server
