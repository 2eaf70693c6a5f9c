// SPDX-License-Identifier: BSD-3-Clause
// One BitTorrent client (a libtorrent session with one torrent) serving one file of the torrent:
// reads wait for the pieces they cover, which are fetched first, and the session seeds to the
// swarm for as long as nbdkit runs. The libtorrent headers stay inside swarm.cc.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "nbd/result.h"

namespace nbd::plugins::torrent_plugin {

struct Config {
  std::string torrent;         // a .torrent file or a magnet: link
  std::string file;            // file= ("" serves the largest file)
  std::string cache;           // cache= ("" makes a temporary directory, removed at exit)
  int connections_limit = -1;  // -1: libtorrent's default (200)
  int download_rate = 0;       // bytes per second, 0 unlimited
  int upload_rate = 0;
  std::string listen_interfaces, outgoing_interfaces, user_agent;
  uint32_t timeout_s = 300;  // longest wait with nothing arriving
  bool log_alerts = false;   // -D torrent.alerts=1: every libtorrent alert in the debug log
};

class Swarm {
 public:
  // Parses the .torrent (and picks the file) or the magnet link: bad input stops nbdkit at start.
  static Result<std::unique_ptr<Swarm>> load(Config c);
  ~Swarm();
  Swarm(const Swarm&) = delete;
  Swarm& operator=(const Swarm&) = delete;

  // Before the fork: makes the cache directory (a temporary one when cache= is not given).
  Status prepare_cache();
  // After the fork (threads do not survive it): starts the session, the torrent and the thread
  // that reads libtorrent's alerts.
  Status start();
  // Blocks until the metadata is known (a magnet link fetches it from peers) and the cache has
  // been checked, or fails after timeout= with nothing arriving.
  Status wait_ready();

  uint64_t size() const;
  // Reads from the served file, waiting for its pieces; prefetches the pieces after sequential reads.
  Status pread(std::span<std::byte> buf, uint64_t offset);
  // Waits for the pieces of [offset, offset + count) without reading them (NBD_CMD_CACHE).
  Status cache(uint64_t count, uint64_t offset);
  // Stops the session (announcing "stopped" to trackers) and removes a temporary cache.
  void stop();

  struct Impl;

 private:
  explicit Swarm(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

std::string libtorrent_version();

}  // namespace nbd::plugins::torrent_plugin
