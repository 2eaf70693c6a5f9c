// SPDX-License-Identifier: BSD-3-Clause
// tar filter: serves one entry of an uncompressed tar file in place, like upstream's
// nbdkit-tar-filter. The headers are parsed here (tar_scan.h), not by running GNU tar; the
// entry is found at every open and the connection is a window on it.
#include <cerrno>
#include <optional>
#include <string>

#include "disk/window_connection.h"
#include "nbd/filter.h"
#include "nbd/log.h"
#include "nbd/parse.h"
#include "tar_scan.h"

namespace nbd::filters {
namespace {

class TarFilter final : public Filter {
 public:
  Result<bool> config(std::string_view key, std::string_view value) override {
    if (key == "tar-entry") {
      if (entry_)
        return make_error(EINVAL,
                          "tar-entry=" + std::string(value) + ": only one tar-entry parameter can be given");
      if (value.empty()) return make_error(EINVAL, "tar-entry=: the entry name must not be empty");
      entry_ = std::string(value);
      return true;
    }
    if (key == "tar-limit") {
      NBD_TRY_ASSIGN(limit_, parse_size(key, value));
      return true;
    }
    if (key == "tar")  // upstream's path to GNU tar; this filter runs no tar program
      return make_error(
          EINVAL, "tar=" + std::string(value) +
                      ": not supported: this filter reads the tar headers itself and runs no tar program "
                      "(leave tar= out)");
    return false;
  }
  Status config_complete() override {
    if (!entry_) return make_error(EINVAL, "you must supply the tar-entry=<FILENAME> parameter");
    return ok();
  }

  Result<std::unique_ptr<Connection>> open(const OpenParams& params, const NextOpen& next) override {
    NBD_TRY_ASSIGN(auto below, next(params));
    NBD_TRY_ASSIGN(uint64_t size, below->get_size());
    Connection& file = *below;
    auto read = [&file](std::span<std::byte> buf, uint64_t offset) { return file.pread(buf, offset, 0); };
    auto e = tar::find_entry(read, size, *entry_, limit_);
    if (!e) return make_error(e.error().errnum, "tar: " + e.error().message);
    log::debug("tar: %s: offset %llu, size %llu", entry_->c_str(), static_cast<unsigned long long>(e->offset),
               static_cast<unsigned long long>(e->size));
    return std::unique_ptr<Connection>(
        std::make_unique<vdisk::WindowConnection>(std::move(below), e->offset, e->size));
  }

 private:
  std::optional<std::string> entry_;
  uint64_t limit_ = 0;
};

constexpr ParamHelp kParams[] = {
    {"tar-entry", "tar-entry=<FILENAME>  (required) The path inside the tar file to serve."},
    {"tar-limit",
     "tar-limit=SIZE  Read no header past SIZE bytes of the tar file to find the entry (default 0: no "
     "limit)."},
};

}  // namespace

extern const FilterInfo tar_filter_info;
const FilterInfo tar_filter_info{
    .name = "tar",
    .description = "nbdkit tar filter: serve one entry of a tar file in place",
    .params = kParams,
    .factory = [] { return std::unique_ptr<Filter>(std::make_unique<TarFilter>()); },
};

}  // namespace nbd::filters
