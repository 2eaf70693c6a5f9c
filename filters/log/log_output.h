// SPDX-License-Identifier: BSD-3-Clause
// Where the log filter's lines go: a file (logfile=, logappend=) and/or a script run once per
// line (logscript=), plus the shell quoting upstream's log format uses for strings.
#pragma once

#include <cstdio>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "nbd/result.h"

namespace nbd::filters::log_filter {

// Quotes s for the shell like upstream's log: unchanged if every byte is safe, otherwise in
// double quotes with \ before $ ` \ and ". The empty string becomes "".
std::string shell_quote(std::string_view s);

// The errno's symbolic name ("EIO"), or its number if it has none.
std::string errno_name(int errnum);

// One log entry: the text after the timestamp, and for logscript the same fields as shell
// variables (type is ENTER, LEAVE or PRINT). vars hold values as printed (0x200, "", ...).
struct Entry {
  std::string text;
  std::string type;
  std::string act;
  std::vector<std::pair<std::string, std::string>> vars;  // connection, id, offset, ...
};

class Output {
 public:
  ~Output();
  Status open_file(const std::string& path, bool append);
  void set_script(std::string script) { script_ = std::move(script); }
  bool active() const { return file_ != nullptr || !script_.empty(); }
  // Writes "YYYY-MM-DD HH:MM:SS.UUUUUU TEXT" as one line and runs the script. Thread-safe.
  void write(const Entry& e);

 private:
  void run_script(const Entry& e);
  std::mutex mu_;
  FILE* file_ = nullptr;
  std::string script_;
};

}  // namespace nbd::filters::log_filter
