// SPDX-License-Identifier: BSD-3-Clause
// Command-line value parsers (include/nbd/parse.h).
#include "nbd/parse.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace nbd {
namespace {

Error bad(std::string_view what, std::string_view value, std::string_view why) {
  return make_error(EINVAL, std::string(what) + "=" + std::string(value) + ": " + std::string(why));
}

std::string lower(std::string_view s) {
  std::string r(s);
  for (auto& c : r) c = char(std::tolower(static_cast<unsigned char>(c)));
  return r;
}

}  // namespace

Result<uint64_t> parse_size(std::string_view what, std::string_view value) {
  size_t i = 0;
  while (i < value.size() && std::isspace(static_cast<unsigned char>(value[i]))) ++i;
  size_t digits_start = i;
  uint64_t n = 0;
  while (i < value.size() && std::isdigit(static_cast<unsigned char>(value[i]))) {
    unsigned d = unsigned(value[i] - '0');
    if (n > (UINT64_MAX - d) / 10) return bad(what, value, "size is too large");
    n = n * 10 + d;
    ++i;
  }
  if (i == digits_start) {
    if (i < value.size() && value[i] == '-') return bad(what, value, "size cannot be negative");
    return bad(what, value, "could not parse size (expected a number with an optional suffix like 1M)");
  }
  std::string_view suffix = value.substr(i);
  unsigned shift = 0;
  uint64_t mult = 1;
  if (!suffix.empty()) {
    char c = suffix[0];
    std::string_view tail = suffix.substr(1);
    switch (c) {
      case 'b':
      case 'B': mult = 1; break;
      case 's':
      case 'S': mult = 512; break;
      case 'k':
      case 'K': shift = 10; break;
      case 'm':
      case 'M': shift = 20; break;
      case 'g':
      case 'G': shift = 30; break;
      case 't':
      case 'T': shift = 40; break;
      case 'p':
      case 'P': shift = 50; break;
      case 'e':
      case 'E': shift = 60; break;
      default:
        return bad(what, value,
                   std::string("unknown size suffix '") + c +
                       "' (use K, M, G, T, P, E, or a plain number of bytes)");
    }
    bool tail_ok = tail.empty() || (shift && (tail == "B" || tail == "iB" || tail == "b" || tail == "ib"));
    if (!tail_ok)
      return bad(what, value,
                 "unknown size suffix '" + std::string(suffix) +
                     "' (use K, M, G, T, P, E, or a plain number of bytes)");
    if (shift) mult = uint64_t(1) << shift;
  }
  if (n != 0 && mult > UINT64_MAX / n) return bad(what, value, "size is too large");
  uint64_t r = n * mult;
  // Like upstream: sizes are signed 64-bit internally, so the maximum is 2^63 - 1.
  if (r > uint64_t(INT64_MAX)) return bad(what, value, "size is too large");
  return r;
}

Result<bool> parse_bool(std::string_view what, std::string_view value) {
  std::string v = lower(value);
  if (v == "1" || v == "true" || v == "yes" || v == "on" || v == "y" || v == "t") return true;
  if (v == "0" || v == "false" || v == "no" || v == "off" || v == "n" || v == "f") return false;
  return bad(what, value, "could not parse boolean (use true/false, yes/no, on/off or 1/0)");
}

Result<uint64_t> parse_uint64(std::string_view what, std::string_view value) {
  std::string s(value);
  if (s.empty()) return bad(what, value, "empty number");
  if (s[0] == '-') return bad(what, value, "number cannot be negative");
  if (!std::isdigit(static_cast<unsigned char>(s[0]))) return bad(what, value, "could not parse number");
  errno = 0;
  char* end = nullptr;
  unsigned long long n = std::strtoull(s.c_str(), &end, 0);
  if (errno == ERANGE) return bad(what, value, "number is too large");
  if (end == s.c_str() || *end != '\0') return bad(what, value, "could not parse number");
  return uint64_t(n);
}

Result<uint32_t> parse_uint32(std::string_view what, std::string_view value) {
  NBD_TRY_ASSIGN(uint64_t n, parse_uint64(what, value));
  if (n > UINT32_MAX) return bad(what, value, "number is too large");
  return uint32_t(n);
}

Result<uint32_t> parse_seconds(std::string_view what, std::string_view value) {
  NBD_TRY_ASSIGN(uint32_t n, parse_uint32(what, value));
  if (n == 0) return bad(what, value, "expected a number of seconds, at least 1");
  return n;
}

Result<int64_t> parse_int64(std::string_view what, std::string_view value) {
  std::string s(value);
  if (s.empty()) return bad(what, value, "empty number");
  errno = 0;
  char* end = nullptr;
  long long n = std::strtoll(s.c_str(), &end, 0);
  if (errno == ERANGE) return bad(what, value, "number is out of range");
  if (end == s.c_str() || *end != '\0') return bad(what, value, "could not parse number");
  return int64_t(n);
}

Result<uint64_t> parse_delay_ns(std::string_view what, std::string_view value) {
  std::string s(value);
  double scale = 1e9;
  if (s.size() > 2 && s.compare(s.size() - 2, 2, "ms") == 0) {
    scale = 1e6;
    s.resize(s.size() - 2);
  } else if (s.size() > 1 && s.back() == 's') {
    s.pop_back();
  }
  if (s.empty() || !(std::isdigit(static_cast<unsigned char>(s[0])) || s[0] == '.'))
    return bad(what, value, "could not parse delay (use seconds like 1.5, or 500ms)");
  char* end = nullptr;
  double d = std::strtod(s.c_str(), &end);
  if (*end != '\0' || !std::isfinite(d) || d < 0 || d * scale > 1e18)
    return bad(what, value, "could not parse delay (use seconds like 1.5, or 500ms)");
  return uint64_t(d * scale);
}

Result<double> parse_probability(std::string_view what, std::string_view value) {
  std::string s(value);
  char* end = nullptr;
  // A ratio N:M or N/M, as upstream's nbdkit_parse_probability (divided exactly, so 1:1e9 is
  // 1e-9, not rounded away).
  if (auto sep = s.find_first_of(":/"); sep != std::string::npos) {
    std::string a = s.substr(0, sep), b = s.substr(sep + 1);
    double x = std::strtod(a.c_str(), &end);
    if (a.empty() || *end) return bad(what, value, "could not parse probability");
    double y = std::strtod(b.c_str(), &end);
    if (b.empty() || *end || !(y > 0) || !std::isfinite(x) || !std::isfinite(y))
      return bad(what, value, "could not parse probability");
    double p = x / y;
    if (!(p >= 0 && p <= 1)) return bad(what, value, "probability must be between 0 and 1 (or 0% and 100%)");
    return p;
  }
  bool percent = !s.empty() && s.back() == '%';
  if (percent) s.pop_back();
  if (s.empty()) return bad(what, value, "could not parse probability");
  double p = std::strtod(s.c_str(), &end);
  if (*end || !std::isfinite(p)) return bad(what, value, "could not parse probability");
  if (percent) p /= 100;
  if (p < 0 || p > 1) return bad(what, value, "probability must be between 0 and 1 (or 0% and 100%)");
  return p;
}

bool stdio_safe() {
  struct stat st;
  for (int fd : {0, 1})
    if (fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode)) return false;
  return true;
}

namespace {

// Up to the first newline (or the end) of fd.
Result<std::string> read_line_fd(std::string_view what, int fd) {
  std::string pw;
  char c;
  for (;;) {
    ssize_t n = ::read(fd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return make_error(errno, std::string(what) + ": reading: " + std::strerror(errno));
    if (n == 0 || c == '\n') return pw;
    pw += c;
  }
}

}  // namespace

Result<std::string> read_password(std::string_view what, std::string_view value) {
  if (!value.empty() && value[0] == '+') {
    const std::string path(value.substr(1));
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return make_error(errno, std::string(what) + "=+" + path + ": " + std::strerror(errno));
    auto r = read_line_fd(what, fd);
    ::close(fd);
    return r;
  }
  if (value.size() > 1 && value[0] == '-') {
    NBD_TRY_ASSIGN(uint32_t fd, parse_uint32(what, value.substr(1)));
    if (fd > INT32_MAX) return bad(what, value, "not a file descriptor");
    auto r = read_line_fd(what, static_cast<int>(fd));
    ::close(static_cast<int>(fd));
    return r;
  }
  if (value != "-") return std::string(value);
  if (!stdio_safe() || !isatty(0))
    return bad(what, value, "standard input is not a terminal (use +FILE or -FD)");
  termios saved, quiet;
  const bool echo_off = tcgetattr(0, &saved) == 0;
  if (echo_off) {
    quiet = saved;
    quiet.c_lflag &= ~tcflag_t(ECHO);
    tcsetattr(0, TCSAFLUSH, &quiet);
  }
  std::fputs("password: ", stdout);
  std::fflush(stdout);
  auto r = read_line_fd(what, 0);
  if (echo_off) tcsetattr(0, TCSAFLUSH, &saved);
  std::fputc('\n', stdout);
  return r;
}

}  // namespace nbd
