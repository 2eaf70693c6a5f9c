// SPDX-License-Identifier: BSD-3-Clause
// rate filter: limits read and write bandwidth per server (rate=) and per connection
// (connection-rate=) with token buckets, the rates adjustable while running through files
// (rate-file=, connection-rate-file=) read on every request, like upstream's nbdkit-rate-filter.
#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <string>

#include "nbd/filter.h"
#include "nbd/log.h"
#include "nbd/parse.h"
#include "token_bucket.h"

namespace nbd::filters {
namespace {

DebugFlag debug_bucket{"rate", "bucket"};  // -D rate.bucket=1: log every sleep

// A file holding a rate in bits per second, read again on each request so the rate can be
// changed while the server runs. A missing or empty file leaves the rate as it is; a bad value
// is logged (once per distinct bad content) and also leaves it as it is.
class RateFile {
 public:
  explicit RateFile(std::string path) : path_(std::move(path)) {}
  const std::string& path() const { return path_; }

  std::optional<uint64_t> read() {
    std::ifstream in(path_);
    std::string line;
    if (!in || !std::getline(in, line)) return std::nullopt;
    auto r = parse_size("rate", line);
    std::lock_guard l(mu_);
    if (r) {
      last_bad_.reset();
      return *r;
    }
    if (last_bad_ != line) {
      last_bad_ = line;
      log::error("rate: %s: %s (keeping the current rate)", path_.c_str(), r.error().message.c_str());
    }
    return std::nullopt;
  }

 private:
  std::string path_;
  std::mutex mu_;
  std::optional<std::string> last_bad_;
};

struct Config {
  uint64_t rate = 0, connection_rate = 0;  // bits per second; 0: no limit
  std::optional<RateFile> rate_file, connection_rate_file;
  double burstiness = 2.0;  // seconds of rate the buckets hold
};

void maybe_adjust(std::optional<RateFile>& file, TokenBucket& bucket, const char* which) {
  if (!file) return;
  if (auto r = file->read()) {
    uint64_t old = bucket.set_rate(*r);
    if (old != *r) log::debug("rate: %s: rate adjusted from %" PRIu64 " to %" PRIu64, which, old, *r);
  }
}

// Longest single sleep: a waiting request reads the rate file again this often, so a new
// rate applies to requests already waiting, not only to later ones.
constexpr uint64_t kMaxSleepNs = 200'000'000;

// Waits until the bucket lets `bytes` more through. A sleep ends early with ESHUTDOWN when the
// server shuts down or the client goes away.
Status wait_for(std::optional<RateFile>& file, TokenBucket& bucket, uint64_t bytes, const char* which) {
  maybe_adjust(file, bucket, which);
  double ticket = bucket.claim(bytes * 8);
  for (;;) {
    uint64_t ns = bucket.wait_ns(ticket);
    if (ns == 0) return ok();
    if (debug_bucket) log::debug("rate: %s: waiting %.3f s", which, double(ns) / 1e9);
    NBD_TRY(nbd::nanosleep(std::min(ns, kMaxSleepNs)));
    maybe_adjust(file, bucket, which);
  }
}

struct Buckets {
  Buckets(uint64_t rate, double burst) : read(rate, burst), write(rate, burst) {}
  TokenBucket read, write;
};

class RateConnection final : public FilterConnection {
 public:
  RateConnection(std::unique_ptr<Connection> next, Config& cfg, Buckets& server)
      : FilterConnection(std::move(next)),
        cfg_(cfg),
        server_(server),
        own_(cfg.connection_rate, cfg.burstiness) {}

  Status pread(std::span<std::byte> buf, uint64_t offset, uint32_t flags) override {
    NBD_TRY(limit(server_.read, own_.read, buf.size(), false));
    return next().pread(buf, offset, flags);
  }
  Status pwrite(std::span<const std::byte> buf, uint64_t offset, uint32_t flags) override {
    NBD_TRY(limit(server_.write, own_.write, buf.size(), true));
    return next().pwrite(buf, offset, flags);
  }

 private:
  // As upstream: the server's limit first, then the connection's. Zero, trim and the rest send
  // no data over the wire and so cost nothing.
  Status limit(TokenBucket& server, TokenBucket& own, uint64_t bytes, bool write) {
    NBD_TRY(wait_for(cfg_.rate_file, server, bytes, write ? "write (server limit)" : "read (server limit)"));
    return wait_for(cfg_.connection_rate_file, own, bytes,
                    write ? "write (connection limit)" : "read (connection limit)");
  }

  Config& cfg_;
  Buckets& server_;
  Buckets own_;
};

Result<uint64_t> parse_rate(std::string_view key, std::string_view value, uint64_t current) {
  if (current > 0) return make_error(EINVAL, std::string(key) + " set twice on the command line");
  NBD_TRY_ASSIGN(uint64_t r, parse_size(key, value));
  if (r == 0)
    return make_error(EINVAL, std::string(key) + "=" + std::string(value) + ": " + std::string(key) +
                                  " cannot be set to 0");
  return r;
}

Result<std::string> absolute_path(std::string_view key, std::string_view value) {
  if (value.empty()) return make_error(EINVAL, std::string(key) + "=: a file name is needed");
  std::error_code ec;
  auto p = std::filesystem::absolute(std::filesystem::path(std::string(value)), ec);
  if (ec) return make_error(EINVAL, std::string(key) + "=" + std::string(value) + ": " + ec.message());
  return p.string();
}

Result<double> parse_burstiness(std::string_view value) {
  std::string s(value);
  char* end = nullptr;
  errno = 0;
  double d = s.empty() ? NAN : std::strtod(s.c_str(), &end);
  if (s.empty() || *end != '\0' || errno != 0 || !std::isfinite(d) || d < 0)
    return make_error(EINVAL, "burstiness=" + s + ": burstiness must be a non-negative number (seconds)");
  return d;
}

class RateFilter final : public Filter {
 public:
  Result<bool> config(std::string_view key, std::string_view value) override {
    if (key == "rate") {
      NBD_TRY_ASSIGN(cfg_.rate, parse_rate(key, value, cfg_.rate));
    } else if (key == "connection-rate") {
      NBD_TRY_ASSIGN(cfg_.connection_rate, parse_rate(key, value, cfg_.connection_rate));
    } else if (key == "rate-file") {
      NBD_TRY_ASSIGN(auto p, absolute_path(key, value));
      cfg_.rate_file.emplace(std::move(p));
    } else if (key == "connection-rate-file") {
      NBD_TRY_ASSIGN(auto p, absolute_path(key, value));
      cfg_.connection_rate_file.emplace(std::move(p));
    } else if (key == "burstiness") {
      NBD_TRY_ASSIGN(cfg_.burstiness, parse_burstiness(value));
    } else {
      return false;
    }
    return true;
  }
  // The server's buckets start full once the configuration is known (upstream: get_ready).
  Status config_complete() override {
    server_.emplace(cfg_.rate, cfg_.burstiness);
    return ok();
  }
  Result<std::unique_ptr<Connection>> open(const OpenParams& params, const NextOpen& next) override {
    NBD_TRY_ASSIGN(auto below, next(params));
    return std::unique_ptr<Connection>(std::make_unique<RateConnection>(std::move(below), cfg_, *server_));
  }

 private:
  Config cfg_;
  std::optional<Buckets> server_;
};

constexpr ParamHelp kParams[] = {
    {"rate", "rate=BITSPERSEC  Limit total bandwidth (K, M, G... suffixes)."},
    {"connection-rate", "connection-rate=BITSPERSEC  Limit per-connection bandwidth."},
    {"rate-file", "rate-file=FILENAME  Dynamically adjust total bandwidth."},
    {"connection-rate-file", "connection-rate-file=FILENAME  Dynamically adjust per-connection bandwidth."},
    {"burstiness", "burstiness=SECS  Bucket capacity in seconds of rate (default 2.0)."},
};

}  // namespace

extern const FilterInfo rate_filter_info;
const FilterInfo rate_filter_info{
    .name = "rate",
    .description = "nbdkit rate filter: limit bandwidth by connection or server",
    .params = kParams,
    .factory = [] { return std::unique_ptr<Filter>(std::make_unique<RateFilter>()); },
};

}  // namespace nbd::filters
