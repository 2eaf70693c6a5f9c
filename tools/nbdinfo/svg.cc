// SPDX-License-Identifier: BSD-3-Clause
// nbdinfo --map --svg=FILE: the allocation map as a picture (not in upstream). The export is
// laid out as a grid of cells, kColumns a row, each covering the same power-of-two number of
// bytes, read left to right and top to bottom like text; offsets label every kLabelEvery-th
// row, and a legend gives each type's colour and total. The grid's geometry is written into
// the SVG (data-* attributes of <g id="map">), so a program can find the cell of an offset.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>

#include "nbdinfo.h"

namespace nbdinfo {
namespace {

constexpr uint64_t kColumns = 512;
constexpr uint64_t kMaxRows = 128;
constexpr int kCell = 2;  // pixels a side
constexpr int kLabelEvery = 16;
constexpr int kLeft = 90, kTop = 40;

// The type a cell shows when any byte of it has that type: the one a person looks for (data
// among holes, dirty blocks, locally allocated blocks), so a few bytes in a terabyte show.
bool notable(std::string_view ctx, uint64_t type) {
  if (ctx == "base:allocation") return type == 0;
  if (ctx.rfind("qemu:dirty-bitmap:", 0) == 0) return type == 1;
  if (ctx == "qemu:allocation-depth") return type == 1;
  return false;
}

const char* colour(std::string_view ctx, uint64_t type) {
  if (ctx == "base:allocation") {
    switch (type) {
      case 0: return "#1f4e99";  // data
      case 1: return "#f4a582";  // hole (not known to read as zero)
      case 2: return "#9ecae1";  // allocated, reads as zero
      case 3: return "#e6e6e6";  // hole, zero
    }
  } else if (ctx.rfind("qemu:dirty-bitmap:", 0) == 0) {
    if (type == 0) return "#2ca02c";
    if (type == 1) return "#d62728";
  } else if (ctx == "qemu:allocation-depth") {
    if (type == 0) return "#f2f2f2";
    if (type == 1) return "#333333";
    return type == 2 ? "#888888" : "#bbbbbb";
  }
  static const char* const kOthers[] = {"#984ea3", "#ff7f00", "#a65628", "#f781bf", "#999999"};
  return kOthers[type % 5];
}

std::string escape(std::string_view s) {
  std::string o;
  for (char c : s) {
    if (c == '<')
      o += "&lt;";
    else if (c == '>')
      o += "&gt;";
    else if (c == '&')
      o += "&amp;";
    else if (c == '"')
      o += "&quot;";
    else
      o += c;
  }
  return o;
}

}  // namespace

int write_svg(const std::vector<nbd::Extent>& es, const std::string& ctx, uint64_t size,
              const std::string& title, const std::string& path) {
  // The smallest power of two that fits the export into kColumns * kMaxRows cells.
  uint64_t cell_bytes = 1;
  while (cell_bytes < (uint64_t(1) << 62) && (size + cell_bytes - 1) / cell_bytes > kColumns * kMaxRows)
    cell_bytes <<= 1;
  uint64_t cells = size ? (size + cell_bytes - 1) / cell_bytes : 0;
  uint64_t rows = (cells + kColumns - 1) / kColumns;

  // Each cell's type: notable if any byte is, else the type covering most of it.
  std::vector<uint64_t> type(cells, 0);
  std::map<uint64_t, uint64_t> totals;
  {
    size_t i = 0;
    std::map<uint64_t, uint64_t> in_cell;
    for (uint64_t c = 0; c < cells; ++c) {
      uint64_t a = c * cell_bytes, b = std::min(size, a + cell_bytes);
      in_cell.clear();
      while (i < es.size() && es[i].end() <= a) ++i;
      for (size_t j = i; j < es.size() && es[j].offset < b; ++j)
        in_cell[es[j].flags] += std::min(b, es[j].end()) - std::max(a, es[j].offset);
      uint64_t best = 0, best_bytes = 0;
      bool have_notable = false;
      for (auto& [t, n] : in_cell) {
        if (notable(ctx, t)) {
          best = t;
          have_notable = true;
        } else if (!have_notable && n > best_bytes) {
          best = t;
          best_bytes = n;
        }
      }
      type[c] = best;
    }
    for (auto& e : es) totals[e.flags] += e.length;
  }

  FILE* f = path == "-" ? stdout : fopen(path.c_str(), "w");
  if (!f) {
    fprintf(stderr, "nbdinfo: --svg: %s: %s\n", path.c_str(), strerror(errno));
    return 1;
  }
  int width = kLeft + int(kColumns) * kCell + 20;
  int legend_top = kTop + int(rows) * kCell + 20;
  int height = legend_top + 22 * int(totals.size()) + 10;
  fprintf(f,
          "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
          "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
          "font-family=\"sans-serif\" font-size=\"12\">\n"
          "<rect width=\"100%%\" height=\"100%%\" fill=\"#ffffff\"/>\n"
          "<text x=\"%d\" y=\"22\" font-size=\"14\">%s: %s, %s (%s per cell)</text>\n",
          width, height, width, height, kLeft, escape(title).c_str(), escape(ctx).c_str(),
          human_size(size).c_str(), human_size(cell_bytes).c_str());
  fprintf(
      f,
      "<g id=\"map\" transform=\"translate(%d,%d)\" data-export-size=\"%llu\" data-bytes-per-cell=\"%llu\" "
      "data-columns=\"%llu\" data-cell-pixels=\"%d\" shape-rendering=\"crispEdges\">\n",
      kLeft, kTop, (unsigned long long)size, (unsigned long long)cell_bytes, (unsigned long long)kColumns,
      kCell);
  // One rectangle per run of cells of one type within a row.
  for (uint64_t r = 0; r < rows; ++r) {
    uint64_t first = r * kColumns, last = std::min(cells, first + kColumns);
    for (uint64_t c = first; c < last;) {
      uint64_t d = c;
      while (d < last && type[d] == type[c]) ++d;
      fprintf(f, "<rect x=\"%llu\" y=\"%llu\" width=\"%llu\" height=\"%d\" fill=\"%s\"/>\n",
              (unsigned long long)((c - first) * kCell), (unsigned long long)(r * kCell),
              (unsigned long long)((d - c) * kCell), kCell, colour(ctx, type[c]));
      c = d;
    }
  }
  fprintf(f, "</g>\n");
  for (uint64_t r = 0; r < rows; r += kLabelEvery)
    fprintf(f, "<text x=\"%d\" y=\"%llu\" text-anchor=\"end\" font-size=\"10\">%s</text>\n", kLeft - 6,
            (unsigned long long)(kTop + r * kCell + 8), human_size(r * kColumns * cell_bytes).c_str());
  int y = legend_top;
  for (auto& [t, n] : totals) {
    std::string d = extent_description(ctx, t);
    double pc = size ? 100.0 * double(n) / double(size) : 0.0;
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"14\" height=\"14\" fill=\"%s\" stroke=\"#000000\"/>\n", kLeft,
            y, colour(ctx, t));
    fprintf(f, "<text x=\"%d\" y=\"%d\">%llu %s: %s (%.1f%%)</text>\n", kLeft + 22, y + 12,
            (unsigned long long)t, escape(d.empty() ? "type" : d).c_str(), human_size(n).c_str(), pc);
    y += 22;
  }
  fprintf(f, "</svg>\n");
  bool bad = ferror(f) != 0;
  if (f != stdout)
    bad |= fclose(f) != 0;
  else
    bad |= fflush(f) != 0;
  if (bad) {
    fprintf(stderr, "nbdinfo: --svg: %s: %s\n", path.c_str(), strerror(errno));
    return 1;
  }
  return 0;
}

}  // namespace nbdinfo
