/* SPDX-License-Identifier: BSD-3-Clause */
/* nbdkit++: upstream nbdkit's C filter API (nbdkit-filter(3)), so filters written for upstream
 * build against our headers and load into our nbdkit with --filter=./foo.so. Our own text; the
 * struct layouts, the order of the function pointers, the constants and the filter_init entry
 * point are upstream's, since they are the ABI.
 *
 * A filter fills one static struct nbdkit_filter and names it in NBDKIT_REGISTER_FILTER. Every
 * callback is optional: a missing one passes the call on to the layer below unchanged. The
 * callbacks get the layer below either as a "next" function plus its opaque argument (the
 * process-wide ones) or as an nbdkit_next pointer whose function pointers call into it. */
#ifndef NBDKIT_FILTER_H
#define NBDKIT_FILTER_H

#include <nbdkit-common.h>
#include <stdlib.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The filter ABI version this header describes (upstream 1.16 and later). */
#define NBDKIT_FILTER_API_VERSION 6

/* Answers of can_zero, in a filter and from next->can_zero. */
#define NBDKIT_ZERO_NONE 0    /* zero requests are not offered */
#define NBDKIT_ZERO_EMULATE 1 /* the server writes zeroes with pwrite */
#define NBDKIT_ZERO_NATIVE 2  /* the layer does zero itself */

/* Opaque handles on the layers below: the backend (process-wide), the context an open
 * callback is building, and an open context of the layer below (a struct of functions). */
typedef struct nbdkit_backend nbdkit_backend;
typedef struct nbdkit_context nbdkit_context;
typedef struct nbdkit_next_ops nbdkit_next;

/* The "next" functions the process-wide callbacks are handed, called with the nxdata
 * argument they came with. Each returns -1 on failure (already reported). */
typedef int nbdkit_next_config(nbdkit_backend *nxdata, const char *key, const char *value);
typedef int nbdkit_next_config_complete(nbdkit_backend *nxdata);
typedef int nbdkit_next_preconnect(nbdkit_backend *nxdata, int readonly);
typedef int nbdkit_next_list_exports(nbdkit_backend *nxdata, int readonly, struct nbdkit_exports *exports);
typedef const char *nbdkit_next_default_export(nbdkit_backend *nxdata, int readonly);
/* Opens the layer below for the connection being opened; 0 or -1. */
typedef int nbdkit_next_open(nbdkit_context *context, int readonly, const char *exportname);

/* What a per-connection callback gets as `next`: call through these pointers, passing the same
 * pointer back as the first argument. The server's object is larger than this struct: only
 * ever use the pointers it hands out. The data functions report failure by returning -1 with
 * the errno in *err. */
struct nbdkit_next_ops {
  /* For a context the filter opened itself with nbdkit_next_context_open. */
  int (*prepare)(nbdkit_next *next);
  int (*finalize)(nbdkit_next *next);

  /* The layer below's answers, as a plugin gives them. */
  int64_t (*get_size)(nbdkit_next *next);
  const char *(*export_description)(nbdkit_next *next);
  int (*block_size)(nbdkit_next *next, uint32_t *minimum, uint32_t *preferred, uint32_t *maximum);

  int (*can_write)(nbdkit_next *next);
  int (*can_flush)(nbdkit_next *next);
  int (*is_rotational)(nbdkit_next *next);
  int (*can_trim)(nbdkit_next *next);
  int (*can_zero)(nbdkit_next *next); /* NBDKIT_ZERO_* */
  int (*can_fast_zero)(nbdkit_next *next);
  int (*can_extents)(nbdkit_next *next);
  int (*can_fua)(nbdkit_next *next); /* NBDKIT_FUA_* */
  int (*can_multi_conn)(nbdkit_next *next);
  int (*can_cache)(nbdkit_next *next); /* NBDKIT_CACHE_* */

  /* Requests to the layer below; flags are NBDKIT_FLAG_*. */
  int (*pread)(nbdkit_next *next, void *buf, uint32_t count, uint64_t offset, uint32_t flags, int *err);
  int (*pwrite)(nbdkit_next *next, const void *buf, uint32_t count, uint64_t offset, uint32_t flags,
                int *err);
  int (*flush)(nbdkit_next *next, uint32_t flags, int *err);
  int (*trim)(nbdkit_next *next, uint32_t count, uint64_t offset, uint32_t flags, int *err);
  int (*zero)(nbdkit_next *next, uint32_t count, uint64_t offset, uint32_t flags, int *err);
  int (*extents)(nbdkit_next *next, uint32_t count, uint64_t offset, uint32_t flags,
                 struct nbdkit_extents *extents, int *err);
  int (*cache)(nbdkit_next *next, uint32_t count, uint64_t offset, uint32_t flags, int *err);
};

/* The errno the client gets when the current callback fails; the calling connection's export
 * name (NULL outside one) and whether it uses TLS (1, 0, or -1 outside one). The same
 * declarations as in nbdkit-plugin.h, for filters that include only this header. */
NBDKIT_EXTERN_DECL(void, nbdkit_set_error, (int err));
NBDKIT_EXTERN_DECL(const char *, nbdkit_export_name, (void));
NBDKIT_EXTERN_DECL(int, nbdkit_is_tls, (void));

/* Extent helpers for filters (the list functions are in nbdkit-common.h).
 * nbdkit_extents_full asks next until [offset, offset+count) is covered and returns a new list
 * (free it with nbdkit_extents_free), or NULL with *err set.
 * nbdkit_extents_aligned fills extents with next's answer merged so that every extent is a
 * multiple of align (a power of 2 that offset and count are multiples of); 0 or -1. */
NBDKIT_EXTERN_DECL(struct nbdkit_extents *, nbdkit_extents_full,
                   (nbdkit_next * next, uint32_t count, uint64_t offset, uint32_t flags, int *err));
NBDKIT_EXTERN_DECL(int, nbdkit_extents_aligned,
                   (nbdkit_next * next, uint32_t count, uint64_t offset, uint32_t flags, uint32_t align,
                    struct nbdkit_extents *extents, int *err));

/* Opening more contexts on the layer below by hand (for work with no client, or a reopen):
 * the backend of an open callback's context; a new context on it (prepared and ready, or
 * NULL); closing one; and swapping the context the connection uses (returns the old one). */
NBDKIT_EXTERN_DECL(nbdkit_backend *, nbdkit_context_get_backend, (nbdkit_context * context));
NBDKIT_EXTERN_DECL(nbdkit_next *, nbdkit_next_context_open,
                   (nbdkit_backend * backend, int readonly, const char *exportname, int shared));
NBDKIT_EXTERN_DECL(void, nbdkit_next_context_close, (nbdkit_next * next));
NBDKIT_EXTERN_DECL(nbdkit_next *, nbdkit_context_set_next, (nbdkit_context * context, nbdkit_next *next));

/* One per filter. Fields after _version may move between upstream releases: the server
 * accepts only filters built for its own _api_version. */
struct nbdkit_filter {
  /* Filled by NBDKIT_REGISTER_FILTER. */
  int _api_version;
  const char *_version; /* NBDKIT_VERSION_STRING of the headers the filter was built with */

  const char *name;        /* short name, required */
  const char *longname;    /* for humans */
  const char *description; /* one paragraph for --help */

  void (*load)(void);   /* once, right after the .so is loaded */
  void (*unload)(void); /* once, at exit */

  /* Each KEY=VALUE not taken by a filter nearer the client: consume it (return 0 without
   * calling next), pass it on (next(nxdata, key, value)) or rewrite it. */
  int (*config)(nbdkit_next_config *next, nbdkit_backend *nxdata, const char *key, const char *value);
  int (*config_complete)(nbdkit_next_config_complete *next, nbdkit_backend *nxdata);
  const char *config_help;            /* "key=VALUE  what it does" lines */
  int (*thread_model)(void);          /* may only make the server's model stricter */
  int (*get_ready)(int thread_model); /* gets the model the whole stack runs under */
  int (*after_fork)(nbdkit_backend *backend);
  void (*cleanup)(nbdkit_backend *backend); /* before unload */
  int (*preconnect)(nbdkit_next_preconnect *next, nbdkit_backend *nxdata, int readonly);
  int (*list_exports)(nbdkit_next_list_exports *next, nbdkit_backend *nxdata, int readonly, int is_tls,
                      struct nbdkit_exports *exports);
  const char *(*default_export)(nbdkit_next_default_export *next, nbdkit_backend *nxdata, int readonly,
                                int is_tls);

  /* Per connection. open must call next(context, readonly, exportname) to open the layer
   * below, and returns the handle the other callbacks get (NULL on failure). */
  void *(*open)(nbdkit_next_open *next, nbdkit_context *context, int readonly, const char *exportname,
                int is_tls);
  void (*close)(void *handle);

  /* After open and before the first request (may do I/O through next), and before close. */
  int (*prepare)(nbdkit_next *next, void *handle, int readonly);
  int (*finalize)(nbdkit_next *next, void *handle);

  int64_t (*get_size)(nbdkit_next *next, void *handle);
  const char *(*export_description)(nbdkit_next *next, void *handle);
  int (*block_size)(nbdkit_next *next, void *handle, uint32_t *minimum, uint32_t *preferred,
                    uint32_t *maximum);

  int (*can_write)(nbdkit_next *next, void *handle);
  int (*can_flush)(nbdkit_next *next, void *handle);
  int (*is_rotational)(nbdkit_next *next, void *handle);
  int (*can_trim)(nbdkit_next *next, void *handle);
  int (*can_zero)(nbdkit_next *next, void *handle);
  int (*can_fast_zero)(nbdkit_next *next, void *handle);
  int (*can_extents)(nbdkit_next *next, void *handle);
  int (*can_fua)(nbdkit_next *next, void *handle);
  int (*can_multi_conn)(nbdkit_next *next, void *handle);
  int (*can_cache)(nbdkit_next *next, void *handle);

  /* Requests: return 0, or -1 with the errno for the client in *err. */
  int (*pread)(nbdkit_next *next, void *handle, void *buf, uint32_t count, uint64_t offset, uint32_t flags,
               int *err);
  int (*pwrite)(nbdkit_next *next, void *handle, const void *buf, uint32_t count, uint64_t offset,
                uint32_t flags, int *err);
  int (*flush)(nbdkit_next *next, void *handle, uint32_t flags, int *err);
  int (*trim)(nbdkit_next *next, void *handle, uint32_t count, uint64_t offset, uint32_t flags, int *err);
  int (*zero)(nbdkit_next *next, void *handle, uint32_t count, uint64_t offset, uint32_t flags, int *err);
  int (*extents)(nbdkit_next *next, void *handle, uint32_t count, uint64_t offset, uint32_t flags,
                 struct nbdkit_extents *extents, int *err);
  int (*cache)(nbdkit_next *next, void *handle, uint32_t count, uint64_t offset, uint32_t flags, int *err);
};

/* Defines the entry point the server looks up with dlsym. */
#define NBDKIT_REGISTER_FILTER(filter)                                          \
  NBDKIT_CXX_LANG_C NBDKIT_DLL_PUBLIC struct nbdkit_filter *filter_init(void) { \
    (filter)._api_version = NBDKIT_FILTER_API_VERSION;                          \
    (filter)._version = NBDKIT_VERSION_STRING;                                  \
    return &(filter);                                                           \
  }

#ifdef __cplusplus
}
#endif

#endif /* NBDKIT_FILTER_H */
