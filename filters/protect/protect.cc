// SPDX-License-Identifier: BSD-3-Clause
// protect filter: write-protects byte ranges of the layer below (protect=START-END, ~ for the
// complement), like upstream's nbdkit-protect-filter. A write, zero or trim that would change
// protected bytes fails with EPERM; one that leaves them as they are passes through.
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "nbd/filter.h"
#include "nbd/parse.h"

namespace nbd::filters {
namespace {

// An inclusive range, so that 0-18446744073709551615 (the whole of any disk) fits.
struct Range {
  uint64_t first = 0, last = 0;
};

std::string range_text(const Range& r) { return std::to_string(r.first) + "-" + std::to_string(r.last); }

// "START-END", "START-", "-END", "-", each optionally after '~' (the complement). Numbers are
// decimal, 0 octal or 0x hex, as upstream; END is inclusive and must not be below START.
Result<std::vector<Range>> parse_protect(std::string_view value) {
  const std::string what = "protect=" + std::string(value);
  std::string_view v = value;
  bool complement = !v.empty() && v.front() == '~';
  if (complement) v.remove_prefix(1);
  size_t dash = v.find('-');
  if (dash == std::string_view::npos)
    return make_error(EINVAL, "protect: " + what + ": expected START-END, START-, -END or ~START-END");
  Range r{0, UINT64_MAX};
  if (dash > 0) {
    auto n = parse_uint64("START", v.substr(0, dash));
    if (!n) return make_error(EINVAL, "protect: " + what + ": " + n.error().message);
    r.first = *n;
  }
  if (dash + 1 < v.size()) {
    auto n = parse_uint64("END", v.substr(dash + 1));
    if (!n) return make_error(EINVAL, "protect: " + what + ": " + n.error().message);
    r.last = *n;
  }
  if (r.last < r.first) return make_error(EINVAL, "protect: " + what + ": END is before START");
  if (!complement) return std::vector<Range>{r};
  std::vector<Range> out;
  if (r.first > 0) out.push_back({0, r.first - 1});
  if (r.last < UINT64_MAX) out.push_back({r.last + 1, UINT64_MAX});
  return out;
}

// Sorts and merges overlapping or touching ranges: protection is their union.
std::vector<Range> merge(std::vector<Range> rs) {
  std::sort(rs.begin(), rs.end(), [](const Range& a, const Range& b) { return a.first < b.first; });
  std::vector<Range> out;
  for (const Range& r : rs) {
    if (!out.empty() && (out.back().last == UINT64_MAX || r.first <= out.back().last + 1))
      out.back().last = std::max(out.back().last, r.last);
    else
      out.push_back(r);
  }
  return out;
}

constexpr size_t kChunk = 64 * 1024;

class ProtectConnection final : public FilterConnection {
 public:
  ProtectConnection(std::unique_ptr<Connection> next, const std::vector<Range>& ranges)
      : FilterConnection(std::move(next)), ranges_(ranges) {}

  Status pwrite(std::span<const std::byte> buf, uint64_t offset, uint32_t flags) override {
    NBD_TRY(check(buf.size(), offset, buf.data()));
    return next().pwrite(buf, offset, flags);
  }
  Status zero(uint64_t count, uint64_t offset, uint32_t flags) override {
    NBD_TRY(check(count, offset, nullptr));
    return next().zero(count, offset, flags);
  }
  // Trim may leave anything behind, so only bytes that are zero already may be trimmed (as
  // upstream: zero is what a trimmed block reads as on the plugins that matter).
  Status trim(uint64_t count, uint64_t offset, uint32_t flags) override {
    NBD_TRY(check(count, offset, nullptr));
    return next().trim(count, offset, flags);
  }

 private:
  // Fails with EPERM if [offset, offset+count) overlaps a protected range whose bytes differ
  // from `data` (or from zeroes when data is null).
  Status check(uint64_t count, uint64_t offset, const std::byte* data) {
    const uint64_t last = offset + count - 1;
    for (const Range& r : ranges_) {
      if (r.first > last) break;
      if (r.last < offset) continue;
      uint64_t from = std::max(r.first, offset), to = std::min(r.last, last);
      NBD_TRY_ASSIGN(bool same, unchanged(from, to - from + 1, data ? data + (from - offset) : nullptr));
      if (!same) return make_error(EPERM, "protect: write would change the protected range " + range_text(r));
    }
    return ok();
  }
  Result<bool> unchanged(uint64_t offset, uint64_t count, const std::byte* data) {
    thread_local std::vector<std::byte> buf(kChunk);
    for (uint64_t done = 0; done < count;) {
      size_t n = size_t(std::min<uint64_t>(kChunk, count - done));
      std::span<std::byte> b(buf.data(), n);
      NBD_TRY(next().pread(b, offset + done, 0));
      if (data ? std::memcmp(b.data(), data + done, n) != 0
               : std::any_of(b.begin(), b.end(), [](std::byte x) { return x != std::byte{0}; }))
        return false;
      done += n;
    }
    return true;
  }

  const std::vector<Range>& ranges_;
};

class ProtectFilter final : public Filter {
 public:
  Result<bool> config(std::string_view key, std::string_view value) override {
    if (key != "protect") return false;
    NBD_TRY_ASSIGN(auto rs, parse_protect(value));
    given_.insert(given_.end(), rs.begin(), rs.end());
    return true;
  }
  Status config_complete() override {
    ranges_ = merge(std::move(given_));
    return ok();
  }
  Result<std::unique_ptr<Connection>> open(const OpenParams& params, const NextOpen& next) override {
    NBD_TRY_ASSIGN(auto below, next(params));
    return std::unique_ptr<Connection>(std::make_unique<ProtectConnection>(std::move(below), ranges_));
  }

 private:
  std::vector<Range> given_, ranges_;
};

constexpr ParamHelp kParams[] = {
    {"protect",
     "protect=[~]START-END  Write-protect bytes START to END inclusive (~: all but them); repeatable."},
};

}  // namespace

extern const FilterInfo protect_filter_info;
const FilterInfo protect_filter_info{
    .name = "protect",
    .description = "nbdkit protect filter: write-protect parts of a plugin",
    .params = kParams,
    .factory = [] { return std::unique_ptr<Filter>(std::make_unique<ProtectFilter>()); },
};

}  // namespace nbd::filters
