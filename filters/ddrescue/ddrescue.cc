// SPDX-License-Identifier: BSD-3-Clause
// ddrescue filter: serves an image recovered by GNU ddrescue read-only, failing reads with EIO
// wherever its mapfile (ddrescue-mapfile=FILE) says the data was not rescued, like upstream's
// nbdkit-ddrescue-filter: only blocks with status '+' (finished) are readable.
#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "nbd/filter.h"
#include "nbd/parse.h"

namespace nbd::filters {
namespace {

struct Span {
  uint64_t offset = 0, end = 0;
};

constexpr std::string_view kBlockStatus = "?*/-+";      // non-tried, non-trimmed, non-scraped, bad, finished
constexpr std::string_view kCurrentStatus = "?*/-FG+";  // what ddrescue was doing when it stopped

bool is_status(const std::string& s, std::string_view allowed) {
  return s.size() == 1 && allowed.find(s[0]) != std::string_view::npos;
}

// The mapfile: '#' comment lines; first the current-position line "POS STATUS [PASS]"; then
// one "POS SIZE STATUS" line per block, in order, without overlaps. Returns the finished
// blocks, sorted, with touching ones merged.
Result<std::vector<Span>> parse_mapfile(const std::string& file, std::istream& in) {
  std::vector<Span> good;
  bool have_current = false;
  uint64_t prev_end = 0;
  std::string line;
  for (int lineno = 1; std::getline(in, line); ++lineno) {
    auto bad = [&](const std::string& why) {
      return make_error(EINVAL, "ddrescue: " + file + ":" + std::to_string(lineno) + ": " + why);
    };
    std::istringstream fields(line);
    std::vector<std::string> f;
    for (std::string w; fields >> w;) f.push_back(w);
    if (f.empty() || f[0][0] == '#') continue;
    if (!have_current) {
      if (f.size() < 2 || f.size() > 3 || !is_status(f[1], kCurrentStatus))
        return bad("expected the current position line 'POS STATUS [PASS]' (STATUS one of ?*/-FG+), got '" +
                   line + "'");
      auto pos = parse_uint64("current_pos", f[0]);
      if (!pos) return bad(pos.error().message);
      if (f.size() == 3) {
        auto pass = parse_uint64("current_pass", f[2]);
        if (!pass) return bad(pass.error().message);
      }
      have_current = true;
      continue;
    }
    if (f.size() != 3 || !is_status(f[2], kBlockStatus))
      return bad("expected a block line 'POS SIZE STATUS' (STATUS one of ?*/-+), got '" + line + "'");
    auto pos = parse_uint64("pos", f[0]);
    if (!pos) return bad(pos.error().message);
    auto size = parse_uint64("size", f[1]);
    if (!size) return bad(size.error().message);
    if (*size > UINT64_MAX - *pos) return bad("pos + size is too large");
    if (*pos < prev_end) return bad("block at " + f[0] + " overlaps or comes before the previous block");
    prev_end = *pos + *size;
    if (f[2] != "+" || *size == 0) continue;
    if (!good.empty() && good.back().end == *pos)
      good.back().end = prev_end;
    else
      good.push_back({*pos, prev_end});
  }
  if (in.bad()) return make_error(EIO, "ddrescue: " + file + ": read error");
  if (!have_current)
    return make_error(EINVAL, "ddrescue: " + file + ": not a ddrescue mapfile (no current position line)");
  return good;
}

class DdrescueConnection final : public FilterConnection {
 public:
  DdrescueConnection(std::unique_ptr<Connection> next, const std::vector<Span>& good)
      : FilterConnection(std::move(next)), good_(good) {}

  // As upstream: read-only, and no cache (it would read the bad blocks).
  Result<bool> can_write() override { return false; }
  Result<CacheMode> can_cache() override { return CacheMode::None; }

  Status pread(std::span<std::byte> buf, uint64_t offset, uint32_t flags) override {
    const uint64_t end = offset + buf.size();
    auto it = std::upper_bound(good_.begin(), good_.end(), offset,
                               [](uint64_t off, const Span& s) { return off < s.end; });
    if (it == good_.end() || it->offset > offset || it->end < end)
      return make_error(EIO, "ddrescue: read of " + std::to_string(buf.size()) + " bytes at " +
                                 std::to_string(offset) + " touches data the mapfile marks as not rescued");
    return next().pread(buf, offset, flags);
  }

 private:
  const std::vector<Span>& good_;
};

class DdrescueFilter final : public Filter {
 public:
  Result<bool> config(std::string_view key, std::string_view value) override {
    if (key != "ddrescue-mapfile") return false;
    if (value.empty()) return make_error(EINVAL, "ddrescue: ddrescue-mapfile= needs a file name");
    file_ = std::string(value);
    return true;
  }
  Status config_complete() override {
    if (file_.empty()) return make_error(EINVAL, "ddrescue: the ddrescue-mapfile=FILE parameter is required");
    std::ifstream in(file_);
    if (!in) return errno_error("ddrescue: " + file_);
    NBD_TRY_ASSIGN(good_, parse_mapfile(file_, in));
    return ok();
  }
  Result<std::unique_ptr<Connection>> open(const OpenParams& params, const NextOpen& next) override {
    OpenParams below_params = params;
    below_params.readonly = true;
    NBD_TRY_ASSIGN(auto below, next(below_params));
    return std::unique_ptr<Connection>(std::make_unique<DdrescueConnection>(std::move(below), good_));
  }

 private:
  std::string file_;
  std::vector<Span> good_;
};

constexpr ParamHelp kParams[] = {
    {"ddrescue-mapfile",
     "ddrescue-mapfile=FILE  GNU ddrescue mapfile: only blocks marked '+' are readable (required)."},
};

}  // namespace

// For the unit test: the parser alone, as (offset, end) pairs of readable bytes.
Result<std::vector<std::pair<uint64_t, uint64_t>>> parse_mapfile_for_test(const std::string& text) {
  std::istringstream in(text);
  NBD_TRY_ASSIGN(auto spans, parse_mapfile("map", in));
  std::vector<std::pair<uint64_t, uint64_t>> out;
  for (auto& s : spans) out.emplace_back(s.offset, s.end);
  return out;
}

extern const FilterInfo ddrescue_filter_info;
const FilterInfo ddrescue_filter_info{
    .name = "ddrescue",
    .description = "nbdkit ddrescue filter: serve a ddrescue image, failing reads of blocks not rescued",
    .params = kParams,
    .factory = [] { return std::unique_ptr<Filter>(std::make_unique<DdrescueFilter>()); },
};

}  // namespace nbd::filters
