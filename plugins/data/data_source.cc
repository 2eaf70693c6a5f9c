// SPDX-License-Identifier: BSD-3-Clause
// Files and shell scripts as byte sources for the data language.
#include "data_source.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/subprocess.h"

namespace nbd::data {
namespace {

constexpr size_t kReadChunk = 64 * 1024;

// Reads fd until EOF or limit bytes; eof tells which one stopped it.
Result<Bytes> read_fd(int fd, uint64_t limit, const std::string& what, bool& eof) {
  Bytes out;
  eof = false;
  while (out.size() < limit) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(kReadChunk, limit - out.size()));
    size_t old = out.size();
    out.resize(old + want);
    ssize_t r = ::read(fd, out.data() + old, want);
    int e = errno;
    out.resize(old + static_cast<size_t>(std::max<ssize_t>(r, 0)));
    if (r < 0 && e == EINTR) continue;
    if (r < 0) return make_error(e, what + ": " + std::strerror(e));
    if (r == 0) {
      eof = true;
      break;
    }
  }
  return out;
}

std::string script_name(const std::string& script) {
  std::string s = script.substr(0, 40);
  std::replace(s.begin(), s.end(), '\n', ' ');
  return "<(" + s + (script.size() > 40 ? "...)" : ")");
}

}  // namespace

Result<Bytes> read_file(const std::string& path, uint64_t limit) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return make_error(errno, path + ": " + std::strerror(errno));
  bool eof = false;
  auto r = read_fd(fd, limit, path, eof);
  ::close(fd);
  return r;
}

Result<Bytes> run_script(const std::string& script, uint64_t limit) {
  const std::string name = script_name(script);
  Program c = Program::shell(script);
  c.in = Redirect::null();
  c.out = Redirect::pipe();
  // An endless writer (`<(yes)` under a slice) is stopped with all it started.
  c.new_process_group = true;
  auto r = run(c, {.max_output = limit, .stop_at_max_output = true});
  if (!r) return make_error(r.error().errnum, name + ": " + r.error().message);
  // Under a slice (a limit) the status is ignored, as upstream does: the script may have been
  // cut short, and only its first bytes matter.
  if (limit == UINT64_MAX && !exited_ok(r->wait_status))
    return make_error(EIO, name + ": script " + describe_wait_status(r->wait_status));
  const auto* p = reinterpret_cast<const std::byte*>(r->out.data());
  return Bytes(p, p + r->out.size());
}

}  // namespace nbd::data
