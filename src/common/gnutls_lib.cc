// SPDX-License-Identifier: BSD-3-Clause
// load_gnutls(): see gnutls_lib.h.
#include "common/gnutls_lib.h"

#include <dlfcn.h>

#include <mutex>
#include <string>

namespace nbd::tls {

Result<const Gnutls*> load_gnutls() {
  static Gnutls g;
  static bool loaded = false;
  static std::mutex mutex;  // handles and sessions in different threads may start at once
  std::lock_guard lock(mutex);
  if (loaded) return &g;
  void* lib = dlopen("libgnutls.so.30", RTLD_NOW | RTLD_LOCAL);
  if (!lib) return make_error(ENOTSUP, std::string("TLS is not available: ") + dlerror());
#define NBD_GNUTLS_LOAD(f)                               \
  g.f = reinterpret_cast<decltype(g.f)>(dlsym(lib, #f)); \
  if (!g.f) return make_error(ENOTSUP, "TLS is not available: libgnutls lacks " #f);
  NBD_GNUTLS_FUNCTIONS(NBD_GNUTLS_LOAD)
#undef NBD_GNUTLS_LOAD
  g.free_fn = reinterpret_cast<gnutls_free_function*>(dlsym(lib, "gnutls_free"));
  loaded = true;
  return &g;
}

}  // namespace nbd::tls
