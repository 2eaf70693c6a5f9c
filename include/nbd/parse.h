// SPDX-License-Identifier: BSD-3-Clause
// Parsers for command-line values, shared by the server, plugins, filters and tools, so
// every parameter is read the same way and every error names the parameter.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "nbd/result.h"

namespace nbd {

// Sizes like upstream nbdkit_parse_size: a non-negative decimal number with an optional
// suffix b (bytes), s (512-byte sectors), K M G T P E (powers of 1024, either case,
// optionally followed by "B" or "iB"). `what` names the parameter in the error, e.g.
// "size": "size=1Q: unknown size suffix 'Q' (use K, M, G, T, P, E, or a plain number of bytes)".
Result<uint64_t> parse_size(std::string_view what, std::string_view value);

// Booleans like nbdkit_parse_bool: 1/true/yes/on/y/t and 0/false/no/off/n/f, any case.
Result<bool> parse_bool(std::string_view what, std::string_view value);

// Unsigned integers in decimal, 0x hex or 0 octal (like strtoull base 0), with overflow checks.
Result<uint64_t> parse_uint64(std::string_view what, std::string_view value);
Result<uint32_t> parse_uint32(std::string_view what, std::string_view value);
Result<int64_t> parse_int64(std::string_view what, std::string_view value);
// A timeout in whole seconds, at least 1 (timeout= of the ssh, nbd and torrent plugins).
Result<uint32_t> parse_seconds(std::string_view what, std::string_view value);

// Durations for delay filters and --timeout: "10", "1.5", "500ms", "2s" → nanoseconds.
Result<uint64_t> parse_delay_ns(std::string_view what, std::string_view value);

// Probability for error-rate= style parameters: "0.1", "10%" or "1:10" → [0, 1].
Result<double> parse_probability(std::string_view what, std::string_view value);

// Secrets like nbdkit_read_password: "-" asks on the terminal (with echo off), "-FD" reads
// from an inherited file descriptor (then closes it), "+FILE" reads from a file, anything else
// is the secret itself. What is read stops at the first newline. `what` names the parameter.
Result<std::string> read_password(std::string_view what, std::string_view value);

// False when standard input or output is the NBD socket (nbdkit -s): then nothing may be
// read from or printed to them.
bool stdio_safe();

}  // namespace nbd
