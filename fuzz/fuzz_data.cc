// SPDX-License-Identifier: BSD-3-Clause
// Fuzz target: the data plugin's language (parser and evaluator: literals, strings, offsets,
// alignment, repeats, slices, nested groups, \NAME assignments). Programs that read files
// (<FILE) or run scripts (<(SCRIPT)) are only parsed, never evaluated; $VARs are undefined.
// An evaluated image is read at its start, middle and end, which must stay within its size.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "data_eval.h"
#include "data_parser.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto tree = nbd::data::parse(text, "data");
  if (!tree || text.find('<') != std::string_view::npos) return 0;
  auto image =
      nbd::data::evaluate(**tree, "data", [](std::string_view) { return std::optional<std::string>(); });
  if (!image) return 0;
  std::vector<std::byte> buf(512);
  uint64_t n = image->size();
  for (uint64_t at : {uint64_t{0}, n / 2, n > buf.size() ? n - buf.size() : 0}) {
    size_t len = size_t(std::min<uint64_t>(buf.size(), n - at));
    image->read(std::span(buf).first(len), at);
  }
  return 0;
}
