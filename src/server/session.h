// SPDX-License-Identifier: BSD-3-Clause
// One client connection: the handshake (oldstyle or fixed newstyle option haggling) and then
// the transmission phase (decode, validate, execute through the stack, reply).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "nbd/plugin.h"
#include "nbd/protocol.h"
#include "server/backend.h"
#include "server/io.h"
#include "server/layer.h"
#include "server/options.h"
#include "server/tls.h"
#include "server/validate.h"

namespace nbd::server {

// What every session shares: the stack, the options and the thread-model locks.
struct ServerContext {
  ServerContext(Backend& b, const Options& o, ThreadModel m) : backend(b), opts(o), model(m) {}
  Backend& backend;
  const Options& opts;
  ThreadModel model = ThreadModel::Parallel;
  ServerTls* tls = nullptr;    // null: TLS is off (STARTTLS is refused)
  std::mutex all_requests;     // held around each request under serialize_all_requests
  std::mutex all_connections;  // held for a whole session under serialize_connections
};

class Session {
 public:
  Session(ServerContext& ctx, int in_fd, int out_fd, uint64_t id);
  ~Session();
  // Runs the whole connection; returns when the client disconnects or breaks the protocol.
  void run();

 private:
  // ---- handshake (handshake.cc) ----
  Status handshake();
  Status oldstyle();
  Status newstyle();
  // Returns true when the option moved the session into transmission.
  Result<bool> option(uint32_t opt, std::vector<std::byte>& payload);
  Status reply(uint32_t opt, uint32_t type, std::span<const std::byte> payload = {});
  Status reply_error(uint32_t opt, uint32_t type, const std::string& message);
  Status opt_list(uint32_t opt, std::span<const std::byte> payload);
  Result<bool> opt_info_go(uint32_t opt, std::span<const std::byte> payload);
  Status opt_meta_context(uint32_t opt, std::span<const std::byte> payload);
  Result<bool> opt_export_name(std::span<const std::byte> payload);
  Status opt_starttls(uint32_t opt, std::span<const std::byte> payload);
  // Opens the named export ("" = default) and fills conn_, caps_, bs_ and description_.
  Status open_export(const std::string& name);
  // The one place the negotiated capabilities are assembled: caps_'s protocol fields and the
  // transmission flags (eflags_) from the open export and what the client negotiated. Called
  // right before the export's flags go to the client (EXPORT_NAME, INFO/GO, oldstyle).
  void settle_caps();
  // Finalizes and closes the open export, if any.
  void close_export();

  ServerContext& ctx_;
  Io io_;
  uint64_t id_;
  // Negotiated.
  bool fixed_ = false, no_zeroes_ = false, structured_ = false, extended_ = false;
  bool meta_base_ = false;  // base:allocation selected
  bool tls_on_ = false;     // STARTTLS completed
  bool warned_plaintext_ = false;
  std::string tls_identity_;
  std::string export_name_;
  // Open export.
  std::unique_ptr<Layer> conn_;
  Peer peer_;
  ExportCaps caps_;
  uint16_t eflags_ = 0;
  BlockSize bs_;
  std::string description_;
};

}  // namespace nbd::server
