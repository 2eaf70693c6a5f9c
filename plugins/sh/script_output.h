// SPDX-License-Identifier: BSD-3-Clause
// The text side of the sh/eval script protocol (nbdkit-sh-plugin(3)): exit codes, "ERRNO
// message" on stderr, and what methods print (sizes, export lists, extents, tri-states).
// Pure functions, so they are tested without running any script.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "nbd/plugin.h"
#include "nbd/result.h"

namespace nbd::script {

// How a script call ended, for the exit codes that are not errors.
enum class Exit {
  Ok,       // 0
  Missing,  // 2: the script does not implement this method
  False,    // 3: a boolean method answered false
};

// Exit codes 1 and 4..255 are errors (4-7 are reserved upstream and behave like 1).
inline constexpr int kExitMissing = 2;
inline constexpr int kExitFalse = 3;

// errno value for a name such as "ENOSPC" or "enospc" (any case); 0 if unknown.
int errno_from_name(std::string_view name);

// The Error for a failed call: the first line of stderr is "ERRNO message" or just "ERRNO";
// an unknown first word gives EIO with the whole line. `script` prefixes the message like
// upstream's log: "/path/to/script: message".
Error error_from_stderr(std::string_view script, std::string_view err);

// Decodes a waitpid status: Ok/Missing/False, or the error (signals and failures included).
Result<Exit> decode_status(std::string_view script, int wait_status, std::string_view err);

// Output with surrounding whitespace removed, and with only one trailing newline removed.
std::string_view trim(std::string_view s);
std::string_view chomp(std::string_view s);

// list_exports / default_export output: a first line NAMES, INTERLEAVED or
// NAMES+DESCRIPTIONS chooses the layout; anything else means every line is a name.
Result<std::vector<ExportInfo>> parse_export_list(std::string_view out);

// extents output: lines of "offset length [type]", sizes in parse_size syntax, type a number
// or a comma list of "hole" and "zero" (missing = data). Adds them to `extents`.
Status parse_extents(std::string_view out, ExtentList& extents);

// block_size output: "minimum preferred maximum", each in parse_size syntax.
Result<BlockSize> parse_block_size(std::string_view out);

// can_fua / can_cache output: "none", "emulate" or "native".
Result<FuaMode> parse_fua_mode(std::string_view out);
Result<CacheMode> parse_cache_mode(std::string_view out);

// thread_model output: false (and `model` unchanged) when the text is not a model name;
// upstream ignores such output and keeps its default.
bool parse_thread_model(std::string_view out, ThreadModel& model);

// Flag words passed to pwrite/trim/zero/extents: "", "fua", "fua,may_trim,fast", "req_one".
std::string write_flags(uint32_t flags);
std::string zero_flags(uint32_t flags);
std::string extents_flags(uint32_t flags);

}  // namespace nbd::script
