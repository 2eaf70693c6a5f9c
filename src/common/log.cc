// SPDX-License-Identifier: BSD-3-Clause
// nbd::log implementation: one formatted line per call, written with a single write(2) so
// lines from different threads never interleave.
#include "nbd/log.h"

#include <syslog.h>
#include <unistd.h>

#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <mutex>

namespace nbd::log {
namespace {
std::mutex g_mu;
std::string g_program = "nbdkit";
std::atomic<Destination> g_dest{Destination::Stderr};
std::atomic<bool> g_verbose{false};
thread_local std::string t_context;

void emit(int priority, const char* kind, const char* fmt, va_list ap) {
  char msg[4096];
  vsnprintf(msg, sizeof msg, fmt, ap);
  std::string line;
  {
    std::lock_guard lock(g_mu);
    line = g_program;
  }
  line += ": ";
  if (!t_context.empty()) {
    line += t_context;
    line += ": ";
  }
  if (kind) {
    line += kind;
    line += ": ";
  }
  line += msg;
  while (!line.empty() && line.back() == '\n') line.pop_back();
  switch (g_dest.load()) {
    case Destination::Null: return;
    case Destination::Syslog: syslog(priority, "%s", line.c_str()); return;
    case Destination::Stderr:
      line += '\n';
      [[maybe_unused]] ssize_t r = ::write(2, line.data(), line.size());
      return;
  }
}
}  // namespace

void set_program(std::string program) {
  std::lock_guard lock(g_mu);
  g_program = std::move(program);
}
void set_destination(Destination d) { g_dest = d; }
void set_verbose(bool v) { g_verbose = v; }
bool verbose() { return g_verbose; }
void set_thread_context(std::string context) { t_context = std::move(context); }

void error(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  emit(LOG_ERR, "error", fmt, ap);
  va_end(ap);
}
void warning(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  emit(LOG_WARNING, "warning", fmt, ap);
  va_end(ap);
}
void debug(const char* fmt, ...) {
  if (!g_verbose) return;
  va_list ap;
  va_start(ap, fmt);
  emit(LOG_DEBUG, "debug", fmt, ap);
  va_end(ap);
}
void info(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  emit(LOG_INFO, nullptr, fmt, ap);
  va_end(ap);
}

}  // namespace nbd::log
