// SPDX-License-Identifier: BSD-3-Clause
// Parser for the data plugin's language (nbdkit-data-plugin(1) "DATA FORMAT"): bytes, strings,
// le/be words, @offsets, groups, *N, [N:M], <FILE, <(SCRIPT), \NAME, $VAR and # comments.
#pragma once

#include <string_view>

#include "data_ast.h"
#include "nbd/result.h"

namespace nbd::data {

// Parses `text` into a Group node holding the top-level expressions. `source` names the text in
// errors ("data", or "$pattern" for a variable), which are one line giving the offset and what
// was expected there, e.g. "data: offset 6: expected a repeat count after '*', found 'x'".
// Beyond upstream, counts and offsets accept the size suffixes K M G T P E ("(0)*1T", "@1T").
Result<NodePtr> parse(std::string_view text, std::string_view source);

}  // namespace nbd::data
