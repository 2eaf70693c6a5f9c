/* SPDX-License-Identifier: BSD-3-Clause */
/* The C half of Go plugins: one struct nbdkit_plugin whose callbacks call the Go functions
 * exported by nbdkit.go, with the connection's cgo.Handle as the nbdkit handle. */
#include <stdint.h>
#include <stdlib.h>

#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include "_cgo_export.h"

void go_nbdkit_error(const char *msg, int err) {
  if (msg) nbdkit_error("%s", msg); /* NULL: nbdkit has logged it already */
  if (err) nbdkit_set_error(err);
}
void go_nbdkit_debug(const char *msg) { nbdkit_debug("%s", msg); }

/* nbdkit++ starts its connection and worker threads through this (nbdkit++'s extension to
 * the C plugin ABI; upstream's nbdkit does not look for it): they are then threads of the Go
 * runtime, and the plugin's calls into Go from them do not attach a foreign thread each time. */
int nbdkitpp_spawn_thread(void (*fn)(void *), void *arg) {
  return goSpawnThread((uintptr_t)fn, (uintptr_t)arg);
}
void go_nbdkit_run_thread(uintptr_t fn, uintptr_t arg) { ((void (*)(void *))fn)((void *)arg); }

static void w_load(void) { goLoad(); }
static void w_unload(void) { goUnload(); }
static void w_dump_plugin(void) { goDumpPlugin(); }
static int w_config(const char *key, const char *value) { return goConfig((char *)key, (char *)value); }
static int w_config_complete(void) { return goConfigComplete(); }
static int w_get_ready(void) { return goGetReady(); }
static int w_preconnect(int readonly) { return goPreConnect(readonly); }
static void *w_open(int readonly) { return (void *)goOpen(readonly); }
static void w_close(void *h) { goClose((uintptr_t)h); }
static int64_t w_get_size(void *h) { return goGetSize((uintptr_t)h); }
static int w_can_write(void *h) { return goCan((uintptr_t)h, 0); }
static int w_can_flush(void *h) { return goCan((uintptr_t)h, 1); }
static int w_is_rotational(void *h) { return goCan((uintptr_t)h, 2); }
static int w_can_trim(void *h) { return goCan((uintptr_t)h, 3); }
static int w_can_zero(void *h) { return goCan((uintptr_t)h, 4); }
static int w_can_multi_conn(void *h) { return goCan((uintptr_t)h, 5); }
static int w_can_fua(void *h) { return goCan((uintptr_t)h, 6); }
static int w_can_cache(void *h) { return goCan((uintptr_t)h, 7); }
static int w_can_fast_zero(void *h) { return goCan((uintptr_t)h, 8); }
static int w_pread(void *h, void *buf, uint32_t count, uint64_t offset, uint32_t flags) {
  return goPRead((uintptr_t)h, buf, count, offset, flags);
}
static int w_pwrite(void *h, const void *buf, uint32_t count, uint64_t offset, uint32_t flags) {
  return goPWrite((uintptr_t)h, (void *)buf, count, offset, flags);
}
static int w_flush(void *h, uint32_t flags) { return goFlush((uintptr_t)h, flags); }
static int w_trim(void *h, uint32_t count, uint64_t offset, uint32_t flags) {
  return goTrim((uintptr_t)h, count, offset, flags);
}
static int w_zero(void *h, uint32_t count, uint64_t offset, uint32_t flags) {
  return goZero((uintptr_t)h, count, offset, flags);
}
static int w_cache(void *h, uint32_t count, uint64_t offset, uint32_t flags) {
  return goCache((uintptr_t)h, count, offset, flags);
}

static struct nbdkit_plugin plugin;

struct nbdkit_plugin *go_nbdkit_plugin(char *name) {
  plugin._struct_size = sizeof plugin;
  plugin._api_version = NBDKIT_API_VERSION;
  plugin._thread_model = NBDKIT_THREAD_MODEL_PARALLEL;
  plugin.name = name;
  plugin.load = w_load;
  plugin.unload = w_unload;
  plugin.dump_plugin = w_dump_plugin;
  plugin.config = w_config;
  plugin.config_complete = w_config_complete;
  plugin.get_ready = w_get_ready;
  plugin.preconnect = w_preconnect;
  plugin.open = w_open;
  plugin.close = w_close;
  plugin.get_size = w_get_size;
  plugin.can_write = w_can_write;
  plugin.can_flush = w_can_flush;
  plugin.is_rotational = w_is_rotational;
  plugin.can_trim = w_can_trim;
  plugin.can_zero = w_can_zero;
  plugin.can_multi_conn = w_can_multi_conn;
  plugin.can_fua = w_can_fua;
  plugin.can_cache = w_can_cache;
  plugin.can_fast_zero = w_can_fast_zero;
  plugin.pread = w_pread;
  plugin.pwrite = w_pwrite;
  plugin.flush = w_flush;
  plugin.trim = w_trim;
  plugin.zero = w_zero;
  plugin.cache = w_cache;
  return &plugin;
}
