// SPDX-License-Identifier: BSD-3-Clause
// Fuzz target: the command-line value parsers every plugin and filter uses (sizes with
// suffixes, booleans, integers, delays, probabilities). input[0] picks the parser. A parsed
// size must be what a second parse of its decimal form gives.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "nbd/parse.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  std::string_view v(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (data[0] % 7) {
    case 0: {
      auto n = nbd::parse_size("size", v);
      if (n) {
        auto again = nbd::parse_size("size", std::to_string(*n));
        if (!again || *again != *n) abort();
      }
      break;
    }
    case 1: (void)nbd::parse_bool("b", v); break;
    case 2: (void)nbd::parse_uint64("n", v); break;
    case 3: (void)nbd::parse_uint32("n", v); break;
    case 4: (void)nbd::parse_int64("n", v); break;
    case 5: (void)nbd::parse_delay_ns("delay", v); break;
    case 6: {
      auto p = nbd::parse_probability("p", v);
      if (p && !(*p >= 0 && *p <= 1)) abort();
      break;
    }
  }
  return 0;
}
