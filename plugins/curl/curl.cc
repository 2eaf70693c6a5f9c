// SPDX-License-Identifier: BSD-3-Clause
// curl plugin: a disk image served over HTTP(S), FTP, file:// and the other schemes libcurl
// has (upstream's nbdkit-curl-plugin). Reads are ranged GETs, writes (HTTP) are PUTs with
// Content-Range, run over a pool of connections= handles shared by all clients.
#include <curl/curl.h>

#include <mutex>

#include "nbd/log.h"
#include "nbd/parse.h"
#include "nbd/plugin.h"
#include "plugins/curl/easy.h"
#include "plugins/curl/pool.h"
#include "plugins/curl/scripts.h"

namespace nbd::plugins {
namespace {

using namespace curl_plugin;

DebugFlag debug_verbose{"curl", "verbose"};

class CurlConnection final : public Connection {
 public:
  CurlConnection(Pool& pool, uint64_t size, bool writable) : pool_(pool), size_(size), writable_(writable) {}

  Result<uint64_t> get_size() override { return size_; }
  Result<bool> can_write() override { return writable_; }
  // No multi-conn: one NBD connection already gets connections= transfers at once from the
  // pool, and on two cores nbdcopy's four connections cost more CPU than they gain (bench/).
  Status pread(std::span<std::byte> buf, uint64_t offset, uint32_t) override {
    return pool_.with_handle([&](Easy& e) { return e.read(buf, offset, size_); });
  }
  Status pwrite(std::span<const std::byte> buf, uint64_t offset, uint32_t) override {
    return pool_.with_handle([&](Easy& e) { return e.write(buf, offset); });
  }

 private:
  Pool& pool_;
  const uint64_t size_;
  const bool writable_;
};

Result<long> parse_ssl_version(std::string_view v) {
  static constexpr std::pair<std::string_view, long> kVersions[] = {
      {"default", CURL_SSLVERSION_DEFAULT}, {"tlsv1", CURL_SSLVERSION_TLSv1},
      {"sslv2", CURL_SSLVERSION_SSLv2},     {"sslv3", CURL_SSLVERSION_SSLv3},
      {"tlsv1.0", CURL_SSLVERSION_TLSv1_0}, {"tlsv1.1", CURL_SSLVERSION_TLSv1_1},
      {"tlsv1.2", CURL_SSLVERSION_TLSv1_2}, {"tlsv1.3", CURL_SSLVERSION_TLSv1_3},
  };
  for (const auto& [name, value] : kVersions)
    if (v == name) return value;
  return make_error(EINVAL,
                    "ssl-version=" + std::string(v) +
                        ": expected default, tlsv1, sslv2, sslv3, tlsv1.0, tlsv1.1, tlsv1.2 or tlsv1.3");
}

class CurlPlugin final : public Plugin {
 public:
  CurlPlugin() { curl_global_init(CURL_GLOBAL_DEFAULT); }
  ~CurlPlugin() override {
    pool_.reset();
    share_.reset();
    curl_global_cleanup();
  }

  Status config(std::string_view key, std::string_view value) override {
    std::string v(value);
    auto secret = [&](std::optional<std::string>& to) -> Status {
      NBD_TRY_ASSIGN(to, read_password(key, value));
      return ok();
    };
    auto flag = [&](bool& to) -> Status {
      NBD_TRY_ASSIGN(to, parse_bool(key, value));
      return ok();
    };
    std::optional<std::string>* text = key == "user"               ? &o_.user
                                       : key == "proxy"            ? &o_.proxy
                                       : key == "proxy-user"       ? &o_.proxy_user
                                       : key == "cainfo"           ? &o_.cainfo
                                       : key == "capath"           ? &o_.capath
                                       : key == "cookiejar"        ? &o_.cookiejar
                                       : key == "protocols"        ? &o_.protocols
                                       : key == "ssl-cipher-list"  ? &o_.ssl_cipher_list
                                       : key == "tls13-ciphers"    ? &o_.tls13_ciphers
                                       : key == "unix-socket-path" ? &o_.unix_socket_path
                                       : key == "user-agent"       ? &o_.user_agent
                                       : key == "header-script"    ? &header_.script
                                       : key == "cookie-script"    ? &cookie_.script
                                                                   : nullptr;
    if (text) {
      *text = v;
    } else if (key == "url") {
      o_.url = v;
    } else if (key == "password") {
      return secret(o_.password);
    } else if (key == "proxy-password") {
      return secret(o_.proxy_password);
    } else if (key == "cookie") {
      return secret(o_.cookie);
    } else if (key == "cookiefile") {
      o_.cookiefile = v;  // "" (cookiefile=) turns the cookie engine on with no cookies
    } else if (key == "header") {
      o_.headers.push_back(v);
    } else if (key == "followlocation") {
      return flag(o_.followlocation);
    } else if (key == "sslverify") {
      return flag(o_.sslverify);
    } else if (key == "tcp-keepalive") {
      return flag(o_.tcp_keepalive);
    } else if (key == "tcp-nodelay") {
      return flag(o_.tcp_nodelay);
    } else if (key == "ssl-version") {
      NBD_TRY_ASSIGN(o_.ssl_version, parse_ssl_version(value));
    } else if (key == "timeout") {
      NBD_TRY_ASSIGN(o_.timeout_s, parse_uint32(key, value));
    } else if (key == "connections") {
      NBD_TRY_ASSIGN(connections_, parse_uint32(key, value));
      if (connections_ < 1 || connections_ > 1024)
        return make_error(EINVAL, "connections=" + v + ": expected 1 to 1024");
    } else if (key == "header-script-renew") {
      NBD_TRY_ASSIGN(header_.renew_s, parse_uint32(key, value));
    } else if (key == "cookie-script-renew") {
      NBD_TRY_ASSIGN(cookie_.renew_s, parse_uint32(key, value));
    } else {
      return Plugin::config(key, value);
    }
    return ok();
  }

  Status config_complete() override {
    if (o_.url.empty()) return make_error(EINVAL, "url= is required (the URL of the disk image)");
    if (header_.script && !o_.headers.empty())
      return make_error(EINVAL, "header-script= cannot go with header=");
    if (cookie_.script && o_.cookie) return make_error(EINVAL, "cookie-script= cannot go with cookie=");
    if (header_.renew_s && !header_.script)
      return make_error(EINVAL, "header-script-renew= needs header-script=");
    if (cookie_.renew_s && !cookie_.script)
      return make_error(EINVAL, "cookie-script-renew= needs cookie-script=");
    o_.verbose = static_cast<bool>(debug_verbose);
    scripts_ = std::make_unique<Scripts>(o_.url, header_, cookie_);
    // A handle with every option set: what libcurl refuses is refused now, with its name.
    NBD_TRY(Easy::create(o_, nullptr));
    return ok();
  }

  // The size is asked for once, at start: a wrong URL, a refused login or a server without
  // Range support stops nbdkit with one line instead of failing every client later.
  Status get_ready() override {
    NBD_TRY_ASSIGN(share_, Share::create());
    // A pool of one, dropped before the fork: the serving pool is made after it.
    Pool probe(o_, share_.get(), scripts_.get(), 1);
    return probe.with_handle([this](Easy& e) -> Status {
      NBD_TRY_ASSIGN(size_, e.probe_size());
      http_ = e.is_http();
      return ok();
    });
  }

  Status after_fork() override {
    pool_ = std::make_unique<Pool>(o_, share_.get(), scripts_.get(), connections_);
    return ok();
  }

  Result<std::unique_ptr<Connection>> open(const OpenParams&) override {
    // Writes are PUTs, which only HTTP can address to a byte range; other schemes would
    // replace the whole file, so they are read-only.
    return std::unique_ptr<Connection>(std::make_unique<CurlConnection>(*pool_, size_, http_));
  }

  std::vector<std::string> dump_plugin() override {
    std::vector<std::string> out{std::string("curl_version=") + curl_version()};
    const curl_version_info_data* d = curl_version_info(CURLVERSION_NOW);
    for (const char* const* p = d->protocols; p && *p; ++p)
      out.push_back(std::string("curl_protocol_") + *p + "=yes");
    return out;
  }

  void unload() override { pool_.reset(); }

 private:
  Options o_;
  ScriptConfig header_, cookie_;
  uint32_t connections_ = 4;
  uint64_t size_ = 0;
  bool http_ = false;
  std::unique_ptr<Share> share_;
  std::unique_ptr<Scripts> scripts_;
  std::unique_ptr<Pool> pool_;
};

constexpr ParamHelp kParams[] = {
    {"url", "[url=]URL  The URL of the disk image (required)."},
    {"user", "user=USERNAME  User name for the server."},
    {"password", "password=PASSWORD|-|-FD|+FILE  Password for the server."},
    {"header", "header=\"NAME: VALUE\"  An HTTP header sent with every request (repeatable)."},
    {"header-script", "header-script=SCRIPT  A script whose output lines are the headers."},
    {"header-script-renew", "header-script-renew=SECS  Re-run header-script= after SECS seconds."},
    {"cookie", "cookie=COOKIE|-|-FD|+FILE  Cookie sent with every request."},
    {"cookie-script", "cookie-script=SCRIPT  A script whose output line is the cookie."},
    {"cookie-script-renew", "cookie-script-renew=SECS  Re-run cookie-script= after SECS seconds."},
    {"cookiefile", "cookiefile=[FILE]  Turn cookie processing on, starting with FILE's cookies."},
    {"cookiejar", "cookiejar=FILE  Like cookiefile=, and save the cookies to FILE at exit."},
    {"followlocation", "followlocation=BOOL  Follow redirects (default true)."},
    {"connections", "connections=N  HTTP connections used at once, shared by all clients (default 4)."},
    {"protocols", "protocols=PROTO,...  The schemes allowed in the URL and in redirects."},
    {"proxy", "proxy=PROXY  Proxy to use."},
    {"proxy-user", "proxy-user=USERNAME  User name for the proxy."},
    {"proxy-password", "proxy-password=PASSWORD|-|-FD|+FILE  Password for the proxy."},
    {"sslverify", "sslverify=BOOL  Verify the server's certificate (default true)."},
    {"cainfo", "cainfo=FILE  CA certificates to verify with (\"\": not the system's)."},
    {"capath", "capath=DIR  A directory of CA certificates."},
    {"ssl-cipher-list", "ssl-cipher-list=CIPHER[:...]  TLS ciphers allowed."},
    {"ssl-version", "ssl-version=VERSION  Lowest TLS version (tlsv1.2, tlsv1.3, ...)."},
    {"tls13-ciphers", "tls13-ciphers=CIPHER[:...]  TLS 1.3 ciphers allowed."},
    {"tcp-keepalive", "tcp-keepalive=BOOL  TCP keepalives (default false)."},
    {"tcp-nodelay", "tcp-nodelay=BOOL  Disable Nagle's algorithm (default true)."},
    {"timeout", "timeout=SECS  Longest time a request may take (default 0: no limit)."},
    {"unix-socket-path", "unix-socket-path=PATH  Connect over this Unix socket."},
    {"user-agent", "user-agent=STRING  User-Agent header to send."},
};

}  // namespace

extern const PluginInfo curl_plugin_info;
const PluginInfo curl_plugin_info{
    .name = "curl",
    .description = "nbdkit curl plugin (HTTP, FTP and other protocols)",
    .magic_config_key = "url",
    .params = kParams,
    .factory = [] { return std::unique_ptr<Plugin>(std::make_unique<CurlPlugin>()); },
};

}  // namespace nbd::plugins
