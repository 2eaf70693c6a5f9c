// SPDX-License-Identifier: BSD-3-Clause
// Text encodings shared by the server, the client and the plugins: base64 (the data plugin's
// base64=, the info plugin's mode=base64exportname) and URI percent-encoding ($uri, get_uri).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "nbd/result.h"

namespace nbd {

enum class Base64Padding {
  Optional,  // '=' may be left out or added freely; any whitespace is ignored
  Required,  // RFC 4648 strict: exactly the '=' needed for a multiple of 4; only CR/LF ignored
};

// Decodes the standard alphabet. Errors (EINVAL) name the offending offset.
Result<std::vector<std::byte>> decode_base64(std::string_view text, Base64Padding padding);

// Percent-encodes every byte except ASCII letters, digits and the characters in `safe`.
std::string percent_encode(std::string_view s, std::string_view safe);

}  // namespace nbd
