// SPDX-License-Identifier: BSD-3-Clause
// tls-fallback filter: under --tls=on, a plaintext client gets a harmless 512-byte read-only
// export (a message, tlsreadme=) instead of the plugin, which only TLS clients reach; like
// upstream's nbdkit-tls-fallback-filter.
#include <algorithm>
#include <cstring>
#include <string>

#include "nbd/filter.h"

namespace nbd::filters {
namespace {

constexpr size_t kSize = 512;
constexpr std::string_view kDefaultMessage =
    "This NBD server requires TLS authentication before it will serve useful data.\n";

// What a plaintext client sees: the message, NUL-padded to 512 bytes; nothing below is opened.
class ReadmeConnection final : public Connection {
 public:
  explicit ReadmeConnection(const std::string& message) {
    std::memcpy(data_, message.data(), std::min(message.size(), kSize));
  }
  Result<uint64_t> get_size() override { return uint64_t(kSize); }
  Status pread(std::span<std::byte> buf, uint64_t offset, uint32_t) override {
    // The core has checked the range against get_size().
    std::memcpy(buf.data(), data_ + offset, buf.size());
    return ok();
  }

 private:
  char data_[kSize] = {};
};

class TlsFallbackFilter final : public Filter {
 public:
  Result<bool> config(std::string_view key, std::string_view value) override {
    if (key != "tlsreadme") return false;
    message_ = std::string(value.substr(0, kSize));  // longer messages are cut, as upstream
    return true;
  }
  Status get_ready(ThreadModel server_model) override {
    if (server_model == ThreadModel::SerializeConnections)
      return make_error(EINVAL, "the tls-fallback filter requires parallel connection support");
    return ok();
  }
  Result<std::vector<ExportInfo>> list_exports(bool readonly, bool is_tls, const NextExports& next) override {
    if (!is_tls) return std::vector<ExportInfo>{ExportInfo{}};  // only the default export, ""
    return next.list_exports(readonly, is_tls);
  }
  Result<std::string> default_export(bool readonly, bool is_tls, const NextExports& next) override {
    if (!is_tls) return std::string();
    return next.default_export(readonly, is_tls);
  }
  Result<std::unique_ptr<Connection>> open(const OpenParams& params, const NextOpen& next) override {
    // A plaintext client's export name is ignored and the layers below never see it.
    if (!params.is_tls) return std::unique_ptr<Connection>(std::make_unique<ReadmeConnection>(message_));
    return next(params);
  }

 private:
  std::string message_{kDefaultMessage};
};

constexpr ParamHelp kParams[] = {
    {"tlsreadme", "tlsreadme=<MESSAGE>  What plaintext clients read (up to 512 bytes)."},
};

}  // namespace

extern const FilterInfo tls_fallback_filter_info;
const FilterInfo tls_fallback_filter_info{
    .name = "tls-fallback",
    .description = "nbdkit TLS protection filter: plaintext clients get a message, not the plugin",
    .params = kParams,
    .factory = [] { return std::unique_ptr<Filter>(std::make_unique<TlsFallbackFilter>()); },
};

}  // namespace nbd::filters
