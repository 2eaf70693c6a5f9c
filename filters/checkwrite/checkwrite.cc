// SPDX-License-Identifier: BSD-3-Clause
// checkwrite filter: turns every write into a check that the data equals what the plugin
// already has (EIO if not), and zero/trim into checks that the range reads as zeroes, like
// upstream's nbdkit-checkwrite-filter. The plugin is opened read-only and never written: for
// testing copying tools (nbdcopy "$uri" "$uri").
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "nbd/filter.h"

namespace nbd::filters {
namespace {

constexpr size_t kChunk = 256 * 1024;

Error mismatch() { return make_error(EIO, "checkwrite: data written does not match the plugin's data"); }

class CheckwriteConnection final : public FilterConnection {
 public:
  explicit CheckwriteConnection(std::unique_ptr<Connection> next) : FilterConnection(std::move(next)) {}

  // Every write-like request is answered here, so the export is writable whatever the plugin
  // is; flush and FUA have nothing to persist.
  Result<bool> can_write() override { return true; }
  Result<bool> can_flush() override { return true; }
  Result<FuaMode> can_fua() override { return FuaMode::Native; }
  Result<bool> can_trim() override { return true; }
  Result<ZeroMode> can_zero() override { return ZeroMode::Native; }
  Result<bool> can_fast_zero() override { return true; }
  // Connections never change the data, so they are consistent with each other.
  Result<bool> can_multi_conn() override { return true; }

  Status pwrite(std::span<const std::byte> buf, uint64_t offset, uint32_t /*flags*/) override {
    thread_local std::vector<std::byte> have;
    for (size_t done = 0; done < buf.size();) {
      size_t n = std::min(kChunk, buf.size() - done);
      if (have.size() < n) have.resize(kChunk);
      NBD_TRY(next().pread(std::span(have.data(), n), offset + done, 0));
      if (std::memcmp(have.data(), buf.data() + done, n) != 0) return mismatch();
      done += n;
    }
    return ok();
  }
  Status flush(uint32_t /*flags*/) override { return ok(); }
  Status zero(uint64_t count, uint64_t offset, uint32_t flags) override {
    return check_zero(count, offset, (flags & kFastZero) != 0);
  }
  // A trimmed range may read back as anything, but the copy is only right if it was zero.
  Status trim(uint64_t count, uint64_t offset, uint32_t /*flags*/) override {
    return check_zero(count, offset, false);
  }

 private:
  // Extents the plugin reports as zero are trusted; the rest is read. A fast zero cannot read,
  // so it fails with ENOTSUP (the client then writes zeroes, which are checked the slow way).
  Status check_zero(uint64_t count, uint64_t offset, bool fast) {
    const uint64_t end = offset + count;
    for (uint64_t pos = offset; pos < end;) {
      ExtentList e(pos, end);
      NBD_TRY(next().extents(end - pos, pos, 0, e));
      if (e.next_offset() <= pos) return make_error(EIO, "checkwrite: the plugin returned no extents");
      for (const Extent& x : e.extents()) {
        uint64_t from = std::max(x.offset, pos), to = std::min(x.end(), end);
        if (from >= to || x.reads_as_zero()) continue;
        if (fast) return make_error(ENOTSUP, "checkwrite: fast zero of a range not known to be zero");
        NBD_TRY(check_reads_zero(to - from, from));
      }
      pos = std::min(e.next_offset(), end);
    }
    return ok();
  }
  Status check_reads_zero(uint64_t count, uint64_t offset) {
    thread_local std::vector<std::byte> have;
    if (have.size() < kChunk) have.resize(kChunk);
    for (uint64_t done = 0; done < count;) {
      size_t n = size_t(std::min<uint64_t>(kChunk, count - done));
      std::span<std::byte> b(have.data(), n);
      NBD_TRY(next().pread(b, offset + done, 0));
      if (std::any_of(b.begin(), b.end(), [](std::byte x) { return x != std::byte{0}; })) return mismatch();
      done += n;
    }
    return ok();
  }
};

class CheckwriteFilter final : public Filter {
 public:
  Result<std::unique_ptr<Connection>> open(const OpenParams& params, const NextOpen& next) override {
    OpenParams below_params = params;
    below_params.readonly = true;  // the plugin is never written
    NBD_TRY_ASSIGN(auto below, next(below_params));
    return std::unique_ptr<Connection>(std::make_unique<CheckwriteConnection>(std::move(below)));
  }
};

}  // namespace

extern const FilterInfo checkwrite_filter_info;
const FilterInfo checkwrite_filter_info{
    .name = "checkwrite",
    .description = "nbdkit checkwrite filter: check that writes match the contents of the plugin",
    .params = {},
    .factory = [] { return std::unique_ptr<Filter>(std::make_unique<CheckwriteFilter>()); },
};

}  // namespace nbd::filters
