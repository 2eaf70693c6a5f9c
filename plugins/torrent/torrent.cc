// SPDX-License-Identifier: BSD-3-Clause
// torrent plugin: one file of a BitTorrent torrent (a .torrent file or a magnet link), read-only,
// like upstream's nbdkit-torrent-plugin, on libtorrent-rasterbar. The plugin is a full client:
// it downloads what clients read first, the rest of the file after, and seeds it while it runs.
#include <climits>
#include <memory>

#include "nbd/log.h"
#include "nbd/parse.h"
#include "nbd/plugin.h"
#include "plugins/torrent/swarm.h"

namespace nbd::plugins {
namespace {

using namespace torrent_plugin;

DebugFlag debug_alerts{"torrent", "alerts"};

class TorrentConnection final : public Connection {
 public:
  explicit TorrentConnection(Swarm& s) : s_(s) {}

  Result<uint64_t> get_size() override { return s_.size(); }
  // Every connection reads the same downloaded file.
  Result<bool> can_multi_conn() override { return true; }
  Result<CacheMode> can_cache() override { return CacheMode::Native; }
  Status pread(std::span<std::byte> buf, uint64_t offset, uint32_t) override { return s_.pread(buf, offset); }
  Status cache(uint64_t count, uint64_t offset, uint32_t) override { return s_.cache(count, offset); }

 private:
  Swarm& s_;
};

// Rates are given in bits per second, like upstream; libtorrent takes bytes per second.
Result<int> parse_rate(std::string_view key, std::string_view value) {
  NBD_TRY_ASSIGN(uint64_t bits, parse_size(key, value));
  if (bits / 8 > uint64_t(INT_MAX))
    return make_error(EINVAL,
                      std::string(key) + "=" + std::string(value) + ": too large (at most 16 Gbit/s)");
  if (bits != 0 && bits < 8)
    return make_error(EINVAL, std::string(key) + "=" + std::string(value) + ": less than a byte per second");
  return int(bits / 8);
}

class TorrentPlugin final : public Plugin {
 public:
  Status config(std::string_view key, std::string_view value) override {
    std::string v(value);
    if (key == "torrent") {
      c_.torrent = v;
    } else if (key == "file") {
      c_.file = v;
    } else if (key == "cache") {
      c_.cache = v;
    } else if (key == "connections-limit" || key == "connections") {
      NBD_TRY_ASSIGN(uint32_t n, parse_uint32(key, value));
      if (n < 1 || n > 65535)
        return make_error(EINVAL, std::string(key) + "=" + v + ": expected 1 to 65535 connections");
      c_.connections_limit = int(n);
    } else if (key == "download-rate-limit") {
      NBD_TRY_ASSIGN(c_.download_rate, parse_rate(key, value));
    } else if (key == "upload-rate-limit") {
      NBD_TRY_ASSIGN(c_.upload_rate, parse_rate(key, value));
    } else if (key == "listen-interfaces") {
      c_.listen_interfaces = v;
    } else if (key == "outgoing-interfaces") {
      c_.outgoing_interfaces = v;
    } else if (key == "user-agent") {
      c_.user_agent = v;
    } else if (key == "timeout") {
      NBD_TRY_ASSIGN(c_.timeout_s, parse_seconds(key, value));
    } else {
      return Plugin::config(key, value);
    }
    return ok();
  }

  Status config_complete() override {
    if (c_.torrent.empty())
      return make_error(EINVAL, "torrent= is required (a .torrent file or a magnet: link)");
    c_.log_alerts = bool(debug_alerts);
    NBD_TRY_ASSIGN(swarm_, Swarm::load(c_));
    return ok();
  }

  Status get_ready() override { return swarm_->prepare_cache(); }
  Status after_fork() override { return swarm_->start(); }

  Result<std::unique_ptr<Connection>> open(const OpenParams&) override {
    // Like upstream, the first client waits for the metadata (a magnet link) and the check of
    // the cache; unlike upstream, not without end.
    NBD_TRY(swarm_->wait_ready());
    return std::unique_ptr<Connection>(std::make_unique<TorrentConnection>(*swarm_));
  }

  void unload() override {
    if (swarm_) swarm_->stop();
  }

  std::vector<std::string> dump_plugin() override { return {"libtorrent_version=" + libtorrent_version()}; }

 private:
  Config c_;
  std::unique_ptr<Swarm> swarm_;
};

constexpr ParamHelp kParams[] = {
    {"torrent", "[torrent=]FILE.torrent|MAGNET  The torrent (required)."},
    {"file", "file=PATH  The file of the torrent to serve (default: the largest)."},
    {"cache", "cache=DIR  Keep the download here between runs (default: a temporary directory)."},
    {"connections-limit", "connections-limit=N  Most peer connections (default 200); also connections=N."},
    {"download-rate-limit", "download-rate-limit=BITS_PER_SEC  Download limit (default 0, unlimited)."},
    {"upload-rate-limit", "upload-rate-limit=BITS_PER_SEC  Upload limit (default 0, unlimited)."},
    {"listen-interfaces", "listen-interfaces=IP:PORT[,...]  Where peers can connect to us."},
    {"outgoing-interfaces", "outgoing-interfaces=IP[,...]  Addresses our connections to peers come from."},
    {"user-agent", "user-agent=STRING  The client name sent to trackers and web seeds."},
    {"timeout", "timeout=SECS  Fail a read when nothing arrives from any peer for this long (default 300)."},
};

}  // namespace

extern const PluginInfo torrent_plugin_info;
const PluginInfo torrent_plugin_info{
    .name = "torrent",
    .description = "nbdkit torrent plugin (one file of a BitTorrent torrent)",
    .magic_config_key = "torrent",
    .params = kParams,
    .factory = [] { return std::unique_ptr<Plugin>(std::make_unique<TorrentPlugin>()); },
};

}  // namespace nbd::plugins
