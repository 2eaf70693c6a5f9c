/* SPDX-License-Identifier: BSD-3-Clause */
/* nbdkit++: upstream nbdkit's C plugin API (nbdkit-plugin(3)), so plugins written for upstream
 * build against our headers and load into our nbdkit. Our own text; the struct layout,
 * constants and the plugin_init entry point are upstream's, since they are the ABI.
 *
 * A plugin defines THREAD_MODEL, fills one static struct nbdkit_plugin and names it in
 * NBDKIT_REGISTER_PLUGIN. Define NBDKIT_API_VERSION 2 before including this header to get the
 * data callbacks with a flags argument; without it, version 1 is assumed. */
#ifndef NBDKIT_PLUGIN_H
#define NBDKIT_PLUGIN_H

#include <nbdkit-common.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef NBDKIT_API_VERSION
#define NBDKIT_API_VERSION 1
#elif (NBDKIT_API_VERSION - 0) < 1 || NBDKIT_API_VERSION > 2
#error "NBDKIT_API_VERSION must be 1 or 2"
#endif

/* Every callback is optional except name, open, get_size and pread. Callbacks returning int
 * return -1 on failure after nbdkit_error (and nbdkit_set_error for a specific errno); can_*
 * callbacks return 0 or 1 (or an NBDKIT_FUA_* / NBDKIT_CACHE_* value). Fields are only ever
 * appended, and the server reads no further than _struct_size. */
struct nbdkit_plugin {
  /* Filled by NBDKIT_REGISTER_PLUGIN: the size of the plugin's copy of this struct, the API
   * version it was compiled for, and its THREAD_MODEL. */
  uint64_t _struct_size;
  int _api_version;
  int _thread_model;

  const char *name;        /* short name: letters, digits, '-', '_'; required */
  const char *longname;    /* for humans, e.g. "nbdkit in-memory plugin" */
  const char *version;     /* the plugin's own version string */
  const char *description; /* one paragraph for --help */

  void (*load)(void);   /* once, right after the .so is loaded */
  void (*unload)(void); /* once, before the server exits */

  int (*config)(const char *key, const char *value); /* each KEY=VALUE, in order */
  int (*config_complete)(void);                      /* after the last config */
  const char *config_help;                           /* "key=VALUE  what it does" lines */

  /* Per connection: open returns the handle every other per-connection callback gets. */
  void *(*open)(int readonly);
  void (*close)(void *handle);
  int64_t (*get_size)(void *handle);
  int (*can_write)(void *handle);
  int (*can_flush)(void *handle);
  int (*is_rotational)(void *handle);
  int (*can_trim)(void *handle);

  /* Data callbacks of API version 1 (no flags). */
#if NBDKIT_API_VERSION == 1
  int (*pread)(void *handle, void *buf, uint32_t count, uint64_t offset);
  int (*pwrite)(void *handle, const void *buf, uint32_t count, uint64_t offset);
  int (*flush)(void *handle);
  int (*trim)(void *handle, uint32_t count, uint64_t offset);
  int (*zero)(void *handle, uint32_t count, uint64_t offset, int may_trim);
#else
  int (*_pread_v1)(void *, void *, uint32_t, uint64_t);
  int (*_pwrite_v1)(void *, const void *, uint32_t, uint64_t);
  int (*_flush_v1)(void *);
  int (*_trim_v1)(void *, uint32_t, uint64_t);
  int (*_zero_v1)(void *, uint32_t, uint64_t, int);
#endif

  /* 1 if a failing callback leaves the right errno in errno (else EIO, unless set_error). */
  int errno_is_preserved;
  void (*dump_plugin)(void); /* extra key=value lines for --dump-plugin, printed to stdout */
  int (*can_zero)(void *handle);
  int (*can_fua)(void *handle);

  /* Data callbacks of API version 2 (with NBDKIT_FLAG_* flags). */
#if NBDKIT_API_VERSION == 1
  int (*_pread_v2)(void *, void *, uint32_t, uint64_t, uint32_t);
  int (*_pwrite_v2)(void *, const void *, uint32_t, uint64_t, uint32_t);
  int (*_flush_v2)(void *, uint32_t);
  int (*_trim_v2)(void *, uint32_t, uint64_t, uint32_t);
  int (*_zero_v2)(void *, uint32_t, uint64_t, uint32_t);
#else
  int (*pread)(void *handle, void *buf, uint32_t count, uint64_t offset, uint32_t flags);
  int (*pwrite)(void *handle, const void *buf, uint32_t count, uint64_t offset, uint32_t flags);
  int (*flush)(void *handle, uint32_t flags);
  int (*trim)(void *handle, uint32_t count, uint64_t offset, uint32_t flags);
  int (*zero)(void *handle, uint32_t count, uint64_t offset, uint32_t flags);
#endif

  const char *magic_config_key; /* the key a bare VALUE on the command line belongs to */
  int (*can_multi_conn)(void *handle);

  int (*can_extents)(void *handle);
  int (*extents)(void *handle, uint32_t count, uint64_t offset, uint32_t flags,
                 struct nbdkit_extents *extents);
  int (*can_cache)(void *handle);
  int (*cache)(void *handle, uint32_t count, uint64_t offset, uint32_t flags);

  int (*thread_model)(void); /* may relax nothing, only make _thread_model stricter */
  int (*can_fast_zero)(void *handle);

  int (*preconnect)(int readonly); /* before the handshake: -1 refuses the client */
  int (*get_ready)(void);          /* after config_complete, before serving */
  int (*after_fork)(void);         /* after the server daemonizes */

  int (*list_exports)(int readonly, int is_tls, struct nbdkit_exports *exports);
  const char *(*default_export)(int readonly, int is_tls);
  const char *(*export_description)(void *handle);

  void (*cleanup)(void); /* before unload, while the server can still log */

  int (*block_size)(void *handle, uint32_t *minimum, uint32_t *preferred, uint32_t *maximum);
};

/* The errno the client gets when the current callback fails (instead of errno or EIO). */
NBDKIT_EXTERN_DECL(void, nbdkit_set_error, (int err));
/* The export name the client asked for (during open and after); NULL outside a connection. */
NBDKIT_EXTERN_DECL(const char *, nbdkit_export_name, (void));
/* 1 if the calling connection uses TLS, 0 if not, -1 outside a connection. */
NBDKIT_EXTERN_DECL(int, nbdkit_is_tls, (void));

/* Defines the entry point the server looks up with dlsym. THREAD_MODEL must be defined. */
#define NBDKIT_REGISTER_PLUGIN(plugin)                                          \
  NBDKIT_CXX_LANG_C NBDKIT_DLL_PUBLIC struct nbdkit_plugin *plugin_init(void) { \
    (plugin)._struct_size = sizeof(plugin);                                     \
    (plugin)._api_version = NBDKIT_API_VERSION;                                 \
    (plugin)._thread_model = THREAD_MODEL;                                      \
    return &(plugin);                                                           \
  }

#ifdef __cplusplus
}
#endif

#endif /* NBDKIT_PLUGIN_H */
