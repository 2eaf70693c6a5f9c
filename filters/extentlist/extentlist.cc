// SPDX-License-Identifier: BSD-3-Clause
// extentlist filter: answers block status from a static list of extents read from a file
// (extentlist=FILE, lines "OFFSET LENGTH [TYPE]"), like upstream's nbdkit-extentlist-filter;
// what the list does not cover is a hole that reads as zeroes. Data passes through unchanged.
#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "nbd/filter.h"
#include "nbd/parse.h"

namespace nbd::filters {
namespace {

constexpr uint64_t kGap = kExtentHole | kExtentZero;

// TYPE: a number 0-3 (the hole and zero bits), or words "hole" and "zero" joined by commas.
Result<uint64_t> parse_type(std::string_view t) {
  if (!t.empty() && t[0] >= '0' && t[0] <= '9') {
    NBD_TRY_ASSIGN(uint64_t n, parse_uint64("type", t));
    if (n > kGap) return make_error(EINVAL, "type " + std::string(t) + ": only 1 (hole) and 2 (zero) exist");
    return n;
  }
  const Error bad =
      make_error(EINVAL, "type '" + std::string(t) + "': use a number, or hole and/or zero joined by ','");
  if (t.size() > 1 && t.back() == ',') t.remove_suffix(1);  // "hole," is accepted, as upstream
  uint64_t flags = 0;
  for (size_t pos = 0; pos <= t.size();) {
    size_t comma = std::min(t.find(',', pos), t.size());
    std::string_view w = t.substr(pos, comma - pos);
    if (w == "hole")
      flags |= kExtentHole;
    else if (w == "zero")
      flags |= kExtentZero;
    else
      return bad;
    pos = comma + 1;
  }
  return flags;
}

// Parses the whole file: blank lines and lines starting with '#' are skipped; extents may come
// in any order but must not overlap. Returns them sorted, without empty ones.
Result<std::vector<Extent>> parse_extent_list(const std::string& file, std::istream& in) {
  std::vector<std::pair<Extent, int>> list;  // with line numbers for the overlap error
  std::string line;
  for (int lineno = 1; std::getline(in, line); ++lineno) {
    auto where = [&] { return "extentlist: " + file + ":" + std::to_string(lineno) + ": "; };
    std::istringstream fields(line);
    std::string off, len, type, extra;
    if (!(fields >> off) || off[0] == '#') continue;
    if (!(fields >> len))
      return make_error(EINVAL, where() + "expected 'OFFSET LENGTH [TYPE]', got '" + line + "'");
    fields >> type >> extra;
    if (!extra.empty()) return make_error(EINVAL, where() + "unexpected '" + extra + "' after the type");
    Extent e;
    auto o = parse_size("offset", off);
    if (!o) return make_error(EINVAL, where() + o.error().message);
    auto l = parse_size("length", len);
    if (!l) return make_error(EINVAL, where() + l.error().message);
    e.offset = *o;
    e.length = *l;
    if (e.length > UINT64_MAX - e.offset) return make_error(EINVAL, where() + "offset + length is too large");
    if (!type.empty()) {
      auto t = parse_type(type);
      if (!t) return make_error(EINVAL, where() + t.error().message);
      e.flags = *t;
    }
    if (e.length > 0) list.emplace_back(e, lineno);
  }
  if (in.bad()) return make_error(EIO, "extentlist: " + file + ": read error");
  std::sort(list.begin(), list.end(),
            [](const auto& a, const auto& b) { return a.first.offset < b.first.offset; });
  std::vector<Extent> out;
  for (size_t i = 0; i < list.size(); ++i) {
    if (i > 0 && list[i].first.offset < list[i - 1].first.end())
      return make_error(EINVAL, "extentlist: " + file + ": the extents on lines " +
                                    std::to_string(list[i - 1].second) + " and " +
                                    std::to_string(list[i].second) + " overlap");
    out.push_back(list[i].first);
  }
  return out;
}

class ExtentlistConnection final : public FilterConnection {
 public:
  ExtentlistConnection(std::unique_ptr<Connection> next, const std::vector<Extent>& list)
      : FilterConnection(std::move(next)), list_(list) {}

  Result<bool> can_extents() override { return true; }

  // The list's extents from offset on, with the gaps between them as holes, up to the end of
  // the request (or the first one alone with kReqOne).
  Status extents(uint64_t count, uint64_t offset, uint32_t flags, ExtentList& out) override {
    const uint64_t end = offset + count;
    auto it = std::upper_bound(list_.begin(), list_.end(), offset,
                               [](uint64_t off, const Extent& e) { return off < e.end(); });
    for (uint64_t pos = offset; pos < end;) {
      uint64_t next_pos;
      if (it == list_.end() || it->offset >= end) {
        NBD_TRY(out.add(pos, end - pos, kGap));
        next_pos = end;
      } else if (it->offset > pos) {
        NBD_TRY(out.add(pos, it->offset - pos, kGap));
        next_pos = it->offset;
      } else {
        next_pos = std::min(it->end(), end);
        NBD_TRY(out.add(pos, next_pos - pos, it->flags));
        ++it;
      }
      pos = next_pos;
      if (flags & kReqOne) break;
    }
    return ok();
  }

 private:
  const std::vector<Extent>& list_;
};

class ExtentlistFilter final : public Filter {
 public:
  Result<bool> config(std::string_view key, std::string_view value) override {
    if (key != "extentlist") return false;
    if (value.empty()) return make_error(EINVAL, "extentlist: extentlist= needs a file name");
    file_ = std::string(value);
    return true;
  }
  Status config_complete() override {
    if (file_.empty()) return make_error(EINVAL, "extentlist: the extentlist=FILE parameter is required");
    std::ifstream in(file_);
    if (!in) return errno_error("extentlist: " + file_);
    NBD_TRY_ASSIGN(list_, parse_extent_list(file_, in));
    return ok();
  }
  Result<std::unique_ptr<Connection>> open(const OpenParams& params, const NextOpen& next) override {
    NBD_TRY_ASSIGN(auto below, next(params));
    return std::unique_ptr<Connection>(std::make_unique<ExtentlistConnection>(std::move(below), list_));
  }

 private:
  std::string file_;
  std::vector<Extent> list_;
};

constexpr ParamHelp kParams[] = {
    {"extentlist", "extentlist=FILE  File of extents, one 'OFFSET LENGTH [TYPE]' a line (required)."},
};

}  // namespace

// For the unit test: the parser alone.
Result<std::vector<Extent>> parse_extent_list_for_test(const std::string& text) {
  std::istringstream in(text);
  return parse_extent_list("list", in);
}

extern const FilterInfo extentlist_filter_info;
const FilterInfo extentlist_filter_info{
    .name = "extentlist",
    .description = "nbdkit extentlist filter: serve block status from a list of extents in a file",
    .params = kParams,
    .factory = [] { return std::unique_ptr<Filter>(std::make_unique<ExtentlistFilter>()); },
};

}  // namespace nbd::filters
