// SPDX-License-Identifier: BSD-3-Clause
// Base64 decoding (RFC 4648 standard alphabet) for the data plugin's base64= parameter.
#pragma once

#include <string_view>

#include "data_image.h"
#include "nbd/result.h"

namespace nbd::data {

// Decodes text; whitespace is ignored and '=' padding is optional. An invalid character or a
// dangling single character is an EINVAL error naming its offset.
Result<Bytes> decode_base64(std::string_view text);

}  // namespace nbd::data
