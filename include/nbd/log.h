// SPDX-License-Identifier: BSD-3-Clause
// Logging for the server, plugins and filters (nbdkit_error / nbdkit_debug equivalents).
// Messages go to stderr (or syslog / a file, as the server's --log chooses), one line each,
// prefixed like upstream: "nbdkit: PLUGIN[CONN]: error: MESSAGE". Thread-safe.
#pragma once

#include <string>

namespace nbd::log {

enum class Destination { Stderr, Syslog, Null };

void set_program(std::string program);  // "nbdkit"
void set_destination(Destination d);
void set_verbose(bool verbose);  // -v: debug messages are printed
bool verbose();
// Name of the plugin/filter and connection number the calling thread works for ("memory[1]").
void set_thread_context(std::string context);

void error(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void warning(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void debug(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
// A line printed as is (no "error:"), e.g. for the log filter's own output or --dump-config.
void info(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

}  // namespace nbd::log
