// SPDX-License-Identifier: BSD-3-Clause
// The log filter's output: timestamped lines in a file, or a shell script per entry.
#include "log_output.h"

#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include "common/subprocess.h"

namespace nbd::filters::log_filter {

namespace {
bool safe_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::strchr("%+,-./:=@_^", c) != nullptr;
}
}  // namespace

std::string shell_quote(std::string_view s) {
  bool safe = !s.empty();
  for (char c : s) safe = safe && safe_char(c);
  if (safe) return std::string(s);
  std::string q = "\"";
  for (char c : s) {
    if (c == '$' || c == '`' || c == '\\' || c == '"') q += '\\';
    q += c;
  }
  return q + "\"";
}

std::string errno_name(int errnum) {
  const char* n = strerrorname_np(errnum);
  return n ? n : std::to_string(errnum);
}

Output::~Output() {
  if (file_) std::fclose(file_);
}

Status Output::open_file(const std::string& path, bool append) {
  file_ = std::fopen(path.c_str(), append ? "a" : "w");
  if (!file_) return make_error(errno, "log: logfile=" + path + ": " + std::strerror(errno));
  return ok();
}

void Output::write(const Entry& e) {
  struct timeval tv;
  gettimeofday(&tv, nullptr);
  struct tm tm;
  localtime_r(&tv.tv_sec, &tm);
  char stamp[64];
  size_t n = std::strftime(stamp, sizeof stamp, "%F %T", &tm);
  std::snprintf(stamp + n, sizeof stamp - n, ".%06ld", long(tv.tv_usec));
  std::lock_guard l(mu_);
  if (file_) {
    std::fprintf(file_, "%s %s\n", stamp, e.text.c_str());
    std::fflush(file_);
  }
  if (!script_.empty()) run_script(e);
}

// Runs the script with bash -c, the entry's fields first as shell variables; lists such as
// exports=(...) and extents=(...) become bash arrays, as upstream does. The script's status is
// ignored (a log script cannot change a request).
void Output::run_script(const Entry& e) {
  std::string cmd = "type=" + e.type + "\nact=" + e.act + "\n";
  // Values are already shell words: numbers, quoted strings, or arrays of them.
  for (const auto& [k, v] : e.vars) cmd += k + "=" + v + "\n";
  cmd += script_;
  if (auto p = Subprocess::start(Program::shell(std::move(cmd), "/bin/bash"))) (void)p->wait();
}

}  // namespace nbd::filters::log_filter
