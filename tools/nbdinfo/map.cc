// SPDX-License-Identifier: BSD-3-Clause
// nbdinfo --map[=CONTEXT] [--totals]: walks the export with block status requests and prints
// each extent (or the total per type) in upstream's text or JSON layout.
#include <algorithm>
#include <cstdio>
#include <map>

#include "nbdinfo.h"

namespace nbdinfo {

using nbd::client::Handle;

std::string extent_description(std::string_view context, uint64_t type) {
  if (context == "base:allocation") {
    std::string d;
    auto add = [&d](const char* s) { d += d.empty() ? s : std::string(",") + s; };
    if (type == 0) return "data";
    if (type & 1) add("hole");
    if (type & 2) add("zero");
    if (type & ~uint64_t(3)) add("unknown");
    return d;
  }
  if (context.rfind("qemu:dirty-bitmap:", 0) == 0) return type == 0 ? "clean" : type == 1 ? "dirty" : "";
  if (context == "qemu:allocation-depth") {
    if (type == 0) return "absent";
    if (type == 1) return "local";
    return "backing depth " + std::to_string(type);
  }
  return "";
}

const char* extent_colour(std::string_view context, uint64_t type) {
  if (context == "base:allocation") return type == 0 ? ansi::kBoldBlack : nullptr;
  if (context.rfind("qemu:dirty-bitmap:", 0) == 0)
    return type == 0 ? ansi::kGreen : type == 1 ? ansi::kRed : nullptr;
  if (context == "qemu:allocation-depth")
    return type == 0 ? nullptr : type == 1 ? ansi::kLocal : ansi::kBacking;
  return nullptr;
}

namespace {

// One request covers at most this much (aligned, so strict alignment checks pass).
uint64_t request_limit(Handle& h) {
  uint64_t align = uint64_t(h.get_block_size(nbd::client::BlockSizeKind::Minimum).value_or(0));
  uint64_t lim = uint64_t(1) << 31;
  if (align > 1) lim -= lim % align;
  return lim;
}

nbd::Result<std::vector<nbd::Extent>> collect(Handle& h, const std::string& ctx, uint64_t size) {
  std::vector<nbd::Extent> out;
  uint64_t offset = 0, limit = request_limit(h);
  while (offset < size) {
    uint64_t count = std::min(size - offset, limit);
    uint64_t end = offset;
    nbd::client::ExtentCallback cb = [&](std::string_view name, uint64_t off, std::span<const nbd::Extent> es,
                                         int*) {
      if (name != ctx) return 0;
      uint64_t pos = off;
      for (auto& e : es) {
        if (e.length == 0 || pos >= size) break;
        uint64_t len = std::min(e.length, size - pos);
        if (!out.empty() && out.back().flags == e.flags && out.back().offset + out.back().length == pos)
          out.back().length += len;
        else
          out.push_back({pos, len, e.flags});
        pos += len;
      }
      end = std::max(end, pos);
      return 0;
    };
    NBD_TRY(h.block_status_64(count, offset, cb));
    if (end <= offset)
      return nbd::make_error(EPROTO, "block status made no progress at offset " + std::to_string(offset));
    offset = end;
  }
  return out;
}

void print_map(const std::vector<nbd::Extent>& es, const std::string& ctx, bool json) {
  if (json) printf("[\n");
  for (size_t i = 0; i < es.size(); ++i) {
    const nbd::Extent& e = es[i];
    std::string d = extent_description(ctx, e.flags);
    if (json) {
      printf("{ \"offset\": %llu, \"length\": %llu, \"type\": %llu", (unsigned long long)e.offset,
             (unsigned long long)e.length, (unsigned long long)e.flags);
      if (!d.empty()) printf(", \"description\": %s", json_string(d).c_str());
      printf("}%s", i + 1 < es.size() ? ",\n" : "");
    } else {
      {
        ansi::Span colour(extent_colour(ctx, e.flags));  // the line, not its newline
        printf("%10llu  %10llu  %3llu", (unsigned long long)e.offset, (unsigned long long)e.length,
               (unsigned long long)e.flags);
        if (!d.empty()) printf("  %s", d.c_str());
      }
      printf("\n");
    }
  }
  if (json) printf("\n]\n");
}

void print_totals(const std::vector<nbd::Extent>& es, const std::string& ctx, uint64_t size, bool json) {
  std::map<uint64_t, uint64_t> totals;
  for (auto& e : es) totals[e.flags] += e.length;
  if (json && totals.empty()) {
    printf("[]\n");
    return;
  }
  if (json) printf("[\n");
  size_t i = 0;
  for (auto& [type, bytes] : totals) {
    double pc = size ? 100.0 * double(bytes) / double(size) : 0.0;
    std::string d = extent_description(ctx, type);
    if (json) {
      printf("{ \"size\": %llu, \"percent\": %g, \"type\": %llu", (unsigned long long)bytes, pc,
             (unsigned long long)type);
      if (!d.empty()) printf(", \"description\": %s", json_string(d).c_str());
      printf(" }%s", ++i < totals.size() ? ",\n" : "");
    } else {
      {
        ansi::Span colour(extent_colour(ctx, type));
        printf("%10llu %5.1f%% %3llu", (unsigned long long)bytes, pc, (unsigned long long)type);
        if (!d.empty()) printf(" %s", d.c_str());
      }
      printf("\n");
    }
  }
  if (json) printf("\n]\n");
}

}  // namespace

int do_map(Handle& h, const Options& o) {
  const std::string& ctx = o.map_context;
  if (!h.can_meta_context(ctx).value_or(false)) {
    fprintf(stderr, "nbdinfo: --map: server does not support metadata context \"%s\"\n", ctx.c_str());
    return 1;
  }
  uint64_t size = uint64_t(h.get_size().value_or(0));
  auto es = collect(h, ctx, size);
  if (!es) {
    fprintf(stderr, "nbdinfo: %s\n", es.error().message.c_str());
    return 1;
  }
  if (!o.svg.empty()) {
    std::string title = o.uri.empty() ? "[ " + o.command.front() + " ... ]" : o.uri;
    return write_svg(*es, ctx, size, title, o.svg);
  }
  if (o.totals)
    print_totals(*es, ctx, size, o.json);
  else
    print_map(*es, ctx, o.json);
  return 0;
}

}  // namespace nbdinfo
