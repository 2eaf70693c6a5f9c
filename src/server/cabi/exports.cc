// SPDX-License-Identifier: BSD-3-Clause
// The nbdkit_* functions of upstream's C API (include/nbdkit-common.h, nbdkit-plugin.h), as the
// nbdkit binary exports them to C plugins, on our logging, parsers, nanosleep and ExtentList.
#include <limits.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>

#define NBDKIT_API_VERSION 2
#include "nbd/log.h"
#include "nbd/parse.h"
#include "nbdkit-plugin.h"
#include "server/cabi/cabi.h"

namespace cabi = nbd::server::cabi;

namespace {

std::string vformat(const char* fs, va_list ap) {
  // glibc's vsnprintf understands %m; keep errno as the caller left it for it.
  int saved = errno;
  va_list copy;
  va_copy(copy, ap);
  char small[512];
  errno = saved;
  int n = vsnprintf(small, sizeof small, fs, copy);
  va_end(copy);
  if (n < 0) return fs;
  if (size_t(n) < sizeof small) return std::string(small, n);
  std::string big(size_t(n) + 1, '\0');
  va_copy(copy, ap);
  errno = saved;
  vsnprintf(big.data(), big.size(), fs, copy);
  va_end(copy);
  big.resize(size_t(n));
  return big;
}

void error_from(const nbd::Error& e) { cabi::record_error(e.message); }

// Parses into any integer type through our 64-bit parsers, checking the range.
template <class T>
int parse_integer(const char* what, const char* str, T* r) {
  if (!str) {
    cabi::record_error(std::string(what ? what : "number") + ": missing value");
    return -1;
  }
  std::string_view w = what ? what : "number";
  if constexpr (std::numeric_limits<T>::is_signed) {
    auto v = nbd::parse_int64(w, str);
    if (!v) return error_from(v.error()), -1;
    if (*v < int64_t(std::numeric_limits<T>::min()) || *v > int64_t(std::numeric_limits<T>::max())) {
      cabi::record_error(std::string(w) + "=" + str + ": value out of range");
      return -1;
    }
    if (r) *r = T(*v);
  } else {
    // strtoull would wrap "-1" to the maximum: refuse a sign, as upstream does.
    const char* p = str;
    while (*p == ' ' || *p == '\t') ++p;
    if (*p == '-') {
      cabi::record_error(std::string(w) + "=" + str + ": negative numbers are not allowed");
      return -1;
    }
    auto v = nbd::parse_uint64(w, str);
    if (!v) return error_from(v.error()), -1;
    if (*v > uint64_t(std::numeric_limits<T>::max())) {
      cabi::record_error(std::string(w) + "=" + str + ": value out of range");
      return -1;
    }
    if (r) *r = T(*v);
  }
  return 0;
}

char* dup_or_error(const std::string& s) {
  char* r = strdup(s.c_str());
  if (!r) cabi::record_error("strdup: out of memory");
  return r;
}

const char* intern(std::string s) {
  cabi::ClientContext* c = cabi::current_client();
  static std::mutex process_mu;
  static std::deque<std::string> process_pool;
  std::lock_guard lock(c ? c->intern_mu : process_mu);
  auto& pool = c ? c->interned : process_pool;
  pool.push_back(std::move(s));
  return pool.back().c_str();
}

}  // namespace

extern "C" {

// The message functions leave errno as they found it: a plugin with errno_is_preserved often
// calls nbdkit_error("...: %m") and then returns -1, and the client must get that errno.
NBDKIT_DLL_PUBLIC void nbdkit_verror(const char* fs, va_list args) {
  int saved = errno;
  cabi::record_error(vformat(fs, args));
  errno = saved;
}

NBDKIT_DLL_PUBLIC void nbdkit_error(const char* fs, ...) {
  va_list ap;
  va_start(ap, fs);
  nbdkit_verror(fs, ap);
  va_end(ap);
}

NBDKIT_DLL_PUBLIC void nbdkit_vdebug(const char* fs, va_list args) {
  if (!nbd::log::verbose()) return;
  int saved = errno;
  nbd::log::debug("%s", vformat(fs, args).c_str());
  errno = saved;
}

NBDKIT_DLL_PUBLIC void nbdkit_debug(const char* fs, ...) {
  va_list ap;
  va_start(ap, fs);
  nbdkit_vdebug(fs, ap);
  va_end(ap);
}

NBDKIT_DLL_PUBLIC void nbdkit_set_error(int err) { cabi::record_errno(err); }

NBDKIT_DLL_PUBLIC char* nbdkit_absolute_path(const char* path) {
  if (!path || !*path) {
    cabi::record_error("cannot convert an empty path to an absolute path");
    return nullptr;
  }
  if (path[0] == '/') return dup_or_error(path);
  char cwd[PATH_MAX];
  if (!getcwd(cwd, sizeof cwd)) {
    cabi::record_error(std::string("getcwd: ") + strerror(errno));
    return nullptr;
  }
  return dup_or_error(std::string(cwd) + "/" + path);
}

NBDKIT_DLL_PUBLIC char* nbdkit_realpath(const char* path) {
  if (!path || !*path) {
    cabi::record_error("cannot resolve an empty path");
    return nullptr;
  }
  char* r = realpath(path, nullptr);
  if (!r) cabi::record_error(std::string("realpath: ") + path + ": " + strerror(errno));
  return r;
}

NBDKIT_DLL_PUBLIC int64_t nbdkit_parse_size(const char* str) {
  auto v = nbd::parse_size("size", str ? str : "");
  if (!v) return error_from(v.error()), -1;
  if (*v > uint64_t(INT64_MAX)) {
    cabi::record_error(std::string("size=") + str + ": too large");
    return -1;
  }
  return int64_t(*v);
}

NBDKIT_DLL_PUBLIC int nbdkit_parse_bool(const char* str) {
  auto v = nbd::parse_bool("bool", str ? str : "");
  if (!v) return error_from(v.error()), -1;
  return *v ? 1 : 0;
}

NBDKIT_DLL_PUBLIC int nbdkit_parse_int(const char* w, const char* s, int* r) {
  return parse_integer(w, s, r);
}
NBDKIT_DLL_PUBLIC int nbdkit_parse_unsigned(const char* w, const char* s, unsigned* r) {
  return parse_integer(w, s, r);
}
NBDKIT_DLL_PUBLIC int nbdkit_parse_int8_t(const char* w, const char* s, int8_t* r) {
  return parse_integer(w, s, r);
}
NBDKIT_DLL_PUBLIC int nbdkit_parse_uint8_t(const char* w, const char* s, uint8_t* r) {
  return parse_integer(w, s, r);
}
NBDKIT_DLL_PUBLIC int nbdkit_parse_int16_t(const char* w, const char* s, int16_t* r) {
  return parse_integer(w, s, r);
}
NBDKIT_DLL_PUBLIC int nbdkit_parse_uint16_t(const char* w, const char* s, uint16_t* r) {
  return parse_integer(w, s, r);
}
NBDKIT_DLL_PUBLIC int nbdkit_parse_int32_t(const char* w, const char* s, int32_t* r) {
  return parse_integer(w, s, r);
}
NBDKIT_DLL_PUBLIC int nbdkit_parse_uint32_t(const char* w, const char* s, uint32_t* r) {
  return parse_integer(w, s, r);
}
NBDKIT_DLL_PUBLIC int nbdkit_parse_int64_t(const char* w, const char* s, int64_t* r) {
  return parse_integer(w, s, r);
}
NBDKIT_DLL_PUBLIC int nbdkit_parse_uint64_t(const char* w, const char* s, uint64_t* r) {
  return parse_integer(w, s, r);
}

NBDKIT_DLL_PUBLIC int nbdkit_parse_probability(const char* what, const char* str, double* r) {
  auto v = nbd::parse_probability(what ? what : "probability", str ? str : "");
  if (!v) return error_from(v.error()), -1;
  if (r) *r = *v;
  return 0;
}

NBDKIT_DLL_PUBLIC int nbdkit_stdio_safe(void) { return nbd::stdio_safe() ? 1 : 0; }

NBDKIT_DLL_PUBLIC int nbdkit_read_password(const char* value, char** password) {
  *password = nullptr;
  auto r = nbd::read_password("password", value ? value : "");
  if (!r) {
    cabi::record_error(r.error().message);
    return -1;
  }
  *password = dup_or_error(*r);
  return *password ? 0 : -1;
}

NBDKIT_DLL_PUBLIC int nbdkit_nanosleep(unsigned sec, unsigned nsec) {
  nbd::Status s = nbd::nanosleep(uint64_t(sec) * 1'000'000'000 + nsec);
  if (s) return 0;
  cabi::record_error(s.error().message);
  errno = s.error().errnum;
  return -1;
}

NBDKIT_DLL_PUBLIC const char* nbdkit_export_name(void) {
  cabi::ClientContext* c = cabi::current_client();
  if (!c || !c->has_export_name) {
    cabi::record_error("no export name: not called from a client connection");
    return nullptr;
  }
  return c->export_name.c_str();
}

NBDKIT_DLL_PUBLIC int nbdkit_is_tls(void) {
  cabi::ClientContext* c = cabi::current_client();
  if (!c) {
    cabi::record_error("nbdkit_is_tls: not called from a client connection");
    return -1;
  }
  return c->is_tls ? 1 : 0;
}

NBDKIT_DLL_PUBLIC int nbdkit_peer_name(struct sockaddr* addr, socklen_t* addrlen) {
  cabi::ClientContext* c = cabi::current_client();
  if (!c || c->peer.addr_len == 0) {
    cabi::record_error("nbdkit_peer_name: the client's address is not known here");
    return -1;
  }
  socklen_t n = std::min(*addrlen, c->peer.addr_len);
  memcpy(addr, &c->peer.addr, n);
  *addrlen = c->peer.addr_len;
  return 0;
}

namespace {
int64_t peer_cred(int64_t nbd::Peer::*field, const char* what) {
  cabi::ClientContext* c = cabi::current_client();
  if (!c || c->peer.*field < 0) {
    cabi::record_error(std::string("nbdkit_peer_") + what +
                       ": not supported (the client is not on a Unix socket)");
    return -1;
  }
  return c->peer.*field;
}
}  // namespace

NBDKIT_DLL_PUBLIC int64_t nbdkit_peer_pid(void) { return peer_cred(&nbd::Peer::pid, "pid"); }
NBDKIT_DLL_PUBLIC int64_t nbdkit_peer_uid(void) { return peer_cred(&nbd::Peer::uid, "uid"); }
NBDKIT_DLL_PUBLIC int64_t nbdkit_peer_gid(void) { return peer_cred(&nbd::Peer::gid, "gid"); }

NBDKIT_DLL_PUBLIC void nbdkit_shutdown(void) { nbd::shutdown_server(); }
NBDKIT_DLL_PUBLIC void nbdkit_disconnect(int force) { nbd::disconnect_client(force != 0); }

NBDKIT_DLL_PUBLIC const char* nbdkit_strdup_intern(const char* str) { return intern(str ? str : ""); }
NBDKIT_DLL_PUBLIC const char* nbdkit_strndup_intern(const char* str, size_t n) {
  return intern(std::string(str, strnlen(str, n)));
}
NBDKIT_DLL_PUBLIC const char* nbdkit_vprintf_intern(const char* fs, va_list args) {
  return intern(vformat(fs, args));
}
NBDKIT_DLL_PUBLIC const char* nbdkit_printf_intern(const char* fs, ...) {
  va_list ap;
  va_start(ap, fs);
  const char* r = nbdkit_vprintf_intern(fs, ap);
  va_end(ap);
  return r;
}

NBDKIT_DLL_PUBLIC int nbdkit_add_extent(struct nbdkit_extents* e, uint64_t offset, uint64_t length,
                                        uint32_t type) {
  nbd::Status s = e->list->add(offset, length, type & (NBDKIT_EXTENT_HOLE | NBDKIT_EXTENT_ZERO));
  if (s) return 0;
  cabi::record_error("nbdkit_add_extent: " + s.error().message);
  errno = s.error().errnum;
  return -1;
}

NBDKIT_DLL_PUBLIC struct nbdkit_extents* nbdkit_extents_new(uint64_t start, uint64_t end) {
  if (start > end) {
    cabi::record_error("nbdkit_extents_new: start is after end");
    errno = ERANGE;
    return nullptr;
  }
  auto* e = new nbdkit_extents{nullptr, nbd::ExtentList(start, end)};
  e->list = &*e->owned;
  return e;
}
NBDKIT_DLL_PUBLIC void nbdkit_extents_free(struct nbdkit_extents* e) { delete e; }
NBDKIT_DLL_PUBLIC size_t nbdkit_extents_count(const struct nbdkit_extents* e) {
  return e->list->extents().size();
}
NBDKIT_DLL_PUBLIC struct nbdkit_extent nbdkit_get_extent(const struct nbdkit_extents* e, size_t i) {
  const nbd::Extent& x = e->list->extents().at(i);
  return {x.offset, x.length, uint32_t(x.flags)};
}

NBDKIT_DLL_PUBLIC int nbdkit_add_export(struct nbdkit_exports* x, const char* name, const char* description) {
  if (!name || strlen(name) > 4096) {
    cabi::record_error("nbdkit_add_export: export name missing or longer than 4096 bytes");
    errno = EINVAL;
    return -1;
  }
  x->entries.push_back(nbd::ExportInfo{name, description ? description : ""});
  return 0;
}
NBDKIT_DLL_PUBLIC int nbdkit_use_default_export(struct nbdkit_exports* x) {
  x->entries.push_back(std::nullopt);
  return 0;
}
NBDKIT_DLL_PUBLIC struct nbdkit_exports* nbdkit_exports_new(void) { return new nbdkit_exports; }
NBDKIT_DLL_PUBLIC void nbdkit_exports_free(struct nbdkit_exports* x) { delete x; }
NBDKIT_DLL_PUBLIC size_t nbdkit_exports_count(const struct nbdkit_exports* x) { return x->entries.size(); }
NBDKIT_DLL_PUBLIC struct nbdkit_export nbdkit_get_export(const struct nbdkit_exports* x, size_t i) {
  const auto& e = x->entries.at(i);
  static char empty[1] = "";
  if (!e) return {empty, empty};
  return {const_cast<char*>(e->name.c_str()), const_cast<char*>(e->description.c_str())};
}

}  // extern "C"
