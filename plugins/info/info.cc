// SPDX-License-Identifier: BSD-3-Clause
// info plugin: a read-only export whose content is information about the connection: the
// export name the client asked for (raw or base64-decoded), or the server's wallclock time,
// uptime or connection time. Like upstream's nbdkit-info-plugin (mode=address: see README).
#include <chrono>
#include <cstring>
#include <string>

#include "common/encoding.h"
#include "nbd/plugin.h"

namespace nbd::plugins {

// The export name decoded as strict base64 (RFC 4648 padding; CR and LF ignored). Exposed for
// the test.
Result<std::string> decode_base64(std::string_view in);

Result<std::string> decode_base64(std::string_view in) {
  auto bytes = nbd::decode_base64(in, Base64Padding::Required);
  if (!bytes) return make_error(EINVAL, "export name is not valid base64");
  return std::string(reinterpret_cast<const char*>(bytes->data()), bytes->size());
}

namespace {

enum class Mode { ExportName, Base64ExportName, Address, Time, Uptime, ConnTime };

// Uptime and connection time use the monotonic clock, so (unlike upstream) they do not jump
// when the wallclock is set.
using Clock = std::chrono::steady_clock;

// 8-byte big-endian seconds then 4-byte big-endian microseconds, as upstream.
template <class Duration>
void encode_time(std::byte out[12], Duration d) {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(d).count();
  if (us < 0) us = 0;
  uint64_t sec = static_cast<uint64_t>(us / 1000000);
  uint32_t usec = static_cast<uint32_t>(us % 1000000);
  for (int i = 0; i < 8; ++i) out[i] = std::byte((sec >> (56 - 8 * i)) & 0xff);
  for (int i = 0; i < 4; ++i) out[8 + i] = std::byte((usec >> (24 - 8 * i)) & 0xff);
}

class InfoConnection final : public Connection {
 public:
  InfoConnection(Mode mode, std::string data, Clock::time_point start)
      : mode_(mode), data_(std::move(data)), start_(start) {}
  Result<uint64_t> get_size() override {
    return is_time() ? uint64_t{12} : static_cast<uint64_t>(data_.size());
  }
  // Only the export-name modes serve the same bytes to every connection (of one name).
  Result<bool> can_multi_conn() override {
    return mode_ == Mode::ExportName || mode_ == Mode::Base64ExportName;
  }
  Result<CacheMode> can_cache() override { return CacheMode::Native; }
  Status cache(uint64_t, uint64_t, uint32_t) override { return ok(); }

  Status pread(std::span<std::byte> buf, uint64_t offset, uint32_t) override {
    if (!is_time()) {
      std::memcpy(buf.data(), data_.data() + offset, buf.size());
      return ok();
    }
    // Computed per read, so one 12-byte read is one consistent time.
    std::byte t[12];
    if (mode_ == Mode::Time) {
      encode_time(t, std::chrono::system_clock::now().time_since_epoch());
    } else {
      encode_time(t, Clock::now() - start_);
    }
    std::memcpy(buf.data(), t + offset, buf.size());
    return ok();
  }

 private:
  bool is_time() const { return mode_ == Mode::Time || mode_ == Mode::Uptime || mode_ == Mode::ConnTime; }
  Mode mode_;
  std::string data_;
  Clock::time_point start_;
};

class InfoPlugin final : public Plugin {
 public:
  Status config(std::string_view key, std::string_view value) override {
    if (key != "mode") return Plugin::config(key, value);
    if (value == "exportname")
      mode_ = Mode::ExportName;
    else if (value == "base64exportname")
      mode_ = Mode::Base64ExportName;
    else if (value == "address")
      mode_ = Mode::Address;
    else if (value == "time")
      mode_ = Mode::Time;
    else if (value == "uptime")
      mode_ = Mode::Uptime;
    else if (value == "conntime")
      mode_ = Mode::ConnTime;
    else {
      return make_error(
          EINVAL, "mode=" + std::string(value) +
                      ": unknown mode (use exportname, base64exportname, address, time, uptime or conntime)");
    }
    return ok();
  }

  Status config_complete() override { return ok(); }

  Result<std::unique_ptr<Connection>> open(const OpenParams& params) override {
    std::string data;
    if (mode_ == Mode::ExportName) data = params.export_name;
    if (mode_ == Mode::Address) data = params.client_address;
    if (mode_ == Mode::Base64ExportName) {
      NBD_TRY_ASSIGN(data, decode_base64(params.export_name));
    }
    Clock::time_point start = mode_ == Mode::ConnTime ? Clock::now() : loaded_;
    return std::unique_ptr<Connection>(std::make_unique<InfoConnection>(mode_, std::move(data), start));
  }

  std::vector<std::string> dump_plugin() override { return {"info_address=yes", "info_base64=yes"}; }

 private:
  Mode mode_ = Mode::ExportName;
  Clock::time_point loaded_ = Clock::now();  // the plugin is created as the server starts
};

constexpr ParamHelp kParams[] = {
    {"mode",
     "[mode=]exportname|base64exportname|address|time|uptime|conntime  What to serve "
     "(default exportname)."},
};

}  // namespace

extern const PluginInfo info_plugin_info;
const PluginInfo info_plugin_info{
    .name = "info",
    .description = "nbdkit info plugin: serves information about the client and server",
    .magic_config_key = "mode",
    .params = kParams,
    .factory = [] { return std::unique_ptr<Plugin>(std::make_unique<InfoPlugin>()); },
};

}  // namespace nbd::plugins
