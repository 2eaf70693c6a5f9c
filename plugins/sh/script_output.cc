// SPDX-License-Identifier: BSD-3-Clause
// Parsers for what sh/eval scripts print and how they exit (see script_output.h).
#include "plugins/sh/script_output.h"

#include <strings.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstring>

#include "nbd/parse.h"

namespace nbd::script {
namespace {

bool iequal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

std::vector<std::string_view> split_lines(std::string_view out) {
  std::vector<std::string_view> lines;
  while (!out.empty()) {
    size_t nl = out.find('\n');
    lines.push_back(out.substr(0, nl));
    if (nl == std::string_view::npos) break;
    out.remove_prefix(nl + 1);
  }
  return lines;
}

std::vector<std::string_view> split_words(std::string_view s) {
  std::vector<std::string_view> words;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && is_space(s[i])) ++i;
    size_t b = i;
    while (i < s.size() && !is_space(s[i])) ++i;
    if (i > b) words.push_back(s.substr(b, i - b));
  }
  return words;
}

Result<uint32_t> parse_extent_type(std::string_view t) {
  if (t.empty()) return 0u;
  if (t.find_first_not_of("0123456789") == std::string_view::npos) return parse_uint32("extent type", t);
  uint32_t type = 0;
  while (!t.empty()) {
    size_t comma = t.find(',');
    std::string_view w = t.substr(0, comma);
    if (iequal(w, "hole"))
      type |= kExtentHole;
    else if (iequal(w, "zero"))
      type |= kExtentZero;
    else if (!w.empty())
      return make_error(EINVAL, "extents: unknown extent type '" + std::string(w) + "'");
    if (comma == std::string_view::npos) break;
    t.remove_prefix(comma + 1);
  }
  return type;
}

}  // namespace

int errno_from_name(std::string_view name) {
  if (iequal(name, "ENOTSUP")) return ENOTSUP;
  if (iequal(name, "EWOULDBLOCK")) return EWOULDBLOCK;
  if (iequal(name, "EDEADLOCK")) return EDEADLK;
  for (int e = 1; e < 256; ++e) {
    const char* n = strerrorname_np(e);
    if (n && iequal(name, n)) return e;
  }
  return 0;
}

Error error_from_stderr(std::string_view script, std::string_view err) {
  std::string prefix = std::string(script) + ": ";
  std::string_view line = err.substr(0, err.find('\n'));
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.empty())
    return make_error(EIO, prefix + "script exited with error, but did not print an error message on stderr");
  size_t end = 0;
  while (end < line.size() && !is_space(line[end])) ++end;
  int e = errno_from_name(line.substr(0, end));
  if (e == 0) return make_error(EIO, prefix + std::string(line));
  while (end < line.size() && is_space(line[end])) ++end;
  return make_error(e, prefix + std::string(line.substr(end)));
}

Result<Exit> decode_status(std::string_view script, int st, std::string_view err) {
  if (WIFSIGNALED(st)) {
    return make_error(EIO,
                      std::string(script) + ": script terminated by signal " + std::to_string(WTERMSIG(st)));
  }
  if (!WIFEXITED(st)) return make_error(EIO, std::string(script) + ": script ended abnormally");
  switch (WEXITSTATUS(st)) {
    case 0: return Exit::Ok;
    case kExitMissing: return Exit::Missing;
    case kExitFalse: return Exit::False;
    default: return error_from_stderr(script, err);
  }
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

std::string_view chomp(std::string_view s) {
  if (!s.empty() && s.back() == '\n') s.remove_suffix(1);
  return s;
}

Result<std::vector<ExportInfo>> parse_export_list(std::string_view out) {
  std::vector<std::string_view> lines = split_lines(out);
  std::vector<ExportInfo> list;
  std::string_view mode = lines.empty() ? "" : lines[0];
  if (mode == "INTERLEAVED") {
    for (size_t i = 1; i < lines.size(); i += 2)
      list.push_back({std::string(lines[i]), i + 1 < lines.size() ? std::string(lines[i + 1]) : ""});
  } else if (mode == "NAMES+DESCRIPTIONS") {
    size_t n = lines.size() - 1;
    if (n % 2)
      return make_error(EINVAL, "list_exports: NAMES+DESCRIPTIONS needs as many descriptions as names");
    for (size_t i = 0; i < n / 2; ++i)
      list.push_back({std::string(lines[1 + i]), std::string(lines[1 + n / 2 + i])});
  } else {
    for (size_t i = mode == "NAMES" ? 1 : 0; i < lines.size(); ++i)
      list.push_back({std::string(lines[i]), ""});
  }
  return list;
}

Status parse_extents(std::string_view out, ExtentList& extents) {
  for (std::string_view line : split_lines(out)) {
    std::vector<std::string_view> w = split_words(line);
    if (w.empty()) continue;
    if (w.size() > 3 || w.size() < 2) {
      return make_error(EINVAL, "extents: expected 'offset length [type]', got '" + std::string(line) + "'");
    }
    NBD_TRY_ASSIGN(uint64_t offset, parse_size("extents offset", w[0]));
    NBD_TRY_ASSIGN(uint64_t length, parse_size("extents length", w[1]));
    NBD_TRY_ASSIGN(uint32_t type, parse_extent_type(w.size() == 3 ? w[2] : ""));
    NBD_TRY(extents.add(offset, length, type));
  }
  if (extents.next_offset() == extents.start())
    return make_error(EINVAL, "extents: the script printed no extents");
  return ok();
}

Result<BlockSize> parse_block_size(std::string_view out) {
  std::vector<std::string_view> w = split_words(out);
  if (w.size() != 3)
    return make_error(
        EINVAL, "block_size: expected 'minimum preferred maximum', got '" + std::string(trim(out)) + "'");
  uint64_t v[3];
  for (int i = 0; i < 3; ++i) {
    NBD_TRY_ASSIGN(v[i], parse_size("block_size", w[i]));
    if (v[i] > UINT32_MAX) return make_error(EINVAL, "block_size: " + std::string(w[i]) + " is too large");
  }
  return BlockSize{uint32_t(v[0]), uint32_t(v[1]), uint32_t(v[2])};
}

Result<FuaMode> parse_fua_mode(std::string_view out) {
  std::string_view t = trim(out);
  if (t == "none") return FuaMode::None;
  if (t == "emulate") return FuaMode::Emulate;
  if (t == "native") return FuaMode::Native;
  return make_error(EINVAL, "can_fua: expected none, emulate or native, got '" + std::string(t) + "'");
}

Result<CacheMode> parse_cache_mode(std::string_view out) {
  std::string_view t = trim(out);
  if (t == "none") return CacheMode::None;
  if (t == "emulate") return CacheMode::Emulate;
  if (t == "native") return CacheMode::Native;
  return make_error(EINVAL, "can_cache: expected none, emulate or native, got '" + std::string(t) + "'");
}

bool parse_thread_model(std::string_view out, ThreadModel& model) {
  std::string_view t = trim(out);
  for (ThreadModel m : {ThreadModel::SerializeConnections, ThreadModel::SerializeAllRequests,
                        ThreadModel::SerializeRequests, ThreadModel::Parallel}) {
    if (t == thread_model_name(m)) {
      model = m;
      return true;
    }
  }
  return false;
}

std::string write_flags(uint32_t flags) { return (flags & kFua) ? "fua" : ""; }

std::string zero_flags(uint32_t flags) {
  std::string s;
  auto add = [&](uint32_t bit, const char* word) {
    if (!(flags & bit)) return;
    if (!s.empty()) s += ',';
    s += word;
  };
  add(kFua, "fua");
  add(kMayTrim, "may_trim");
  add(kFastZero, "fast");
  return s;
}

std::string extents_flags(uint32_t flags) { return (flags & kReqOne) ? "req_one" : ""; }

}  // namespace nbd::script
