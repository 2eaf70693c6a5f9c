/* SPDX-License-Identifier: BSD-3-Clause */
/* nbdkit++: the part of upstream nbdkit's C API shared by plugins and filters (constants and
 * the nbdkit_* calls the server exports). Our own text, written from nbdkit-plugin(3); the
 * values and signatures are upstream's, since they are the ABI. Include nbdkit-plugin.h. */
#ifndef NBDKIT_COMMON_H
#define NBDKIT_COMMON_H

#if !defined(NBDKIT_PLUGIN_H) && !defined(NBDKIT_FILTER_H)
#error "include <nbdkit-plugin.h> (or <nbdkit-filter.h>), not <nbdkit-common.h>"
#endif

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The upstream release whose C API this header follows. */
#define NBDKIT_VERSION_MAJOR 1
#define NBDKIT_VERSION_MINOR 32
#define NBDKIT_VERSION_MICRO 5
#define NBDKIT_VERSION_STRING "1.32.5"

#if defined(__GNUC__) || defined(__clang__)
#define NBDKIT_PRINTF_LIKE(fmt, args) __attribute__((__format__(__printf__, fmt, args)))
#define NBDKIT_DLL_PUBLIC __attribute__((__visibility__("default")))
#else
#define NBDKIT_PRINTF_LIKE(fmt, args)
#define NBDKIT_DLL_PUBLIC
#endif
#define NBDKIT_EXTERN_DECL(ret, fn, args) extern ret fn args

/* How many calls the server lets into the plugin at once, strictest first. */
#define NBDKIT_THREAD_MODEL_SERIALIZE_CONNECTIONS 0  /* one client at a time */
#define NBDKIT_THREAD_MODEL_SERIALIZE_ALL_REQUESTS 1 /* one request at a time, all clients */
#define NBDKIT_THREAD_MODEL_SERIALIZE_REQUESTS 2     /* one request at a time per client */
#define NBDKIT_THREAD_MODEL_PARALLEL 3               /* anything goes */

/* Bits of the flags argument of the data callbacks (API version 2). They are not the NBD wire
 * bits: the server translates. */
#define NBDKIT_FLAG_MAY_TRIM (1 << 0)  /* zero: punching a hole is allowed */
#define NBDKIT_FLAG_FUA (1 << 1)       /* write, trim, zero: on stable storage before returning */
#define NBDKIT_FLAG_REQ_ONE (1 << 2)   /* extents: the first extent is enough */
#define NBDKIT_FLAG_FAST_ZERO (1 << 3) /* zero: fail with ENOTSUP rather than be slow */

/* Answers of can_fua and can_cache. */
#define NBDKIT_FUA_NONE 0
#define NBDKIT_FUA_EMULATE 1
#define NBDKIT_FUA_NATIVE 2
#define NBDKIT_CACHE_NONE 0
#define NBDKIT_CACHE_EMULATE 1
#define NBDKIT_CACHE_NATIVE 2

/* Extent types for nbdkit_add_extent (the base:allocation bits); 0 means allocated data. */
#define NBDKIT_EXTENT_HOLE (1 << 0)
#define NBDKIT_EXTENT_ZERO (1 << 1)

/* Messages. nbdkit_error records the reason the current callback is about to fail (the server
 * logs it and, for a failing request, sends the client an error); nbdkit_debug prints only
 * with -v. Both take printf formats, %m included. */
NBDKIT_EXTERN_DECL(void, nbdkit_error, (const char *fs, ...)NBDKIT_PRINTF_LIKE(1, 2));
NBDKIT_EXTERN_DECL(void, nbdkit_verror, (const char *fs, va_list args)NBDKIT_PRINTF_LIKE(1, 0));
NBDKIT_EXTERN_DECL(void, nbdkit_debug, (const char *fs, ...)NBDKIT_PRINTF_LIKE(1, 2));
NBDKIT_EXTERN_DECL(void, nbdkit_vdebug, (const char *fs, va_list args)NBDKIT_PRINTF_LIKE(1, 0));

/* Paths. Both return a malloc'd string the caller frees, or NULL after nbdkit_error.
 * nbdkit_realpath also requires the path to exist. */
NBDKIT_EXTERN_DECL(char *, nbdkit_absolute_path, (const char *path));
NBDKIT_EXTERN_DECL(char *, nbdkit_realpath, (const char *path));

/* Parsers for parameter values. On a bad value they call nbdkit_error and return -1
 * (nbdkit_parse_size returns -1, nbdkit_parse_bool -1, the rest -1 and leave *r alone).
 * Integers accept decimal, 0x hex and 0 octal; `what` names the value in the message. */
NBDKIT_EXTERN_DECL(int64_t, nbdkit_parse_size, (const char *str));
NBDKIT_EXTERN_DECL(int, nbdkit_parse_bool, (const char *str));
NBDKIT_EXTERN_DECL(int, nbdkit_parse_int, (const char *what, const char *str, int *r));
NBDKIT_EXTERN_DECL(int, nbdkit_parse_unsigned, (const char *what, const char *str, unsigned *r));
NBDKIT_EXTERN_DECL(int, nbdkit_parse_int8_t, (const char *what, const char *str, int8_t *r));
NBDKIT_EXTERN_DECL(int, nbdkit_parse_uint8_t, (const char *what, const char *str, uint8_t *r));
NBDKIT_EXTERN_DECL(int, nbdkit_parse_int16_t, (const char *what, const char *str, int16_t *r));
NBDKIT_EXTERN_DECL(int, nbdkit_parse_uint16_t, (const char *what, const char *str, uint16_t *r));
NBDKIT_EXTERN_DECL(int, nbdkit_parse_int32_t, (const char *what, const char *str, int32_t *r));
NBDKIT_EXTERN_DECL(int, nbdkit_parse_uint32_t, (const char *what, const char *str, uint32_t *r));
NBDKIT_EXTERN_DECL(int, nbdkit_parse_int64_t, (const char *what, const char *str, int64_t *r));
NBDKIT_EXTERN_DECL(int, nbdkit_parse_uint64_t, (const char *what, const char *str, uint64_t *r));
/* "0.1", "10%" or "1:10" into [0, 1]; 0 on success, -1 after nbdkit_error. */
NBDKIT_EXTERN_DECL(int, nbdkit_parse_probability, (const char *what, const char *str, double *r));

/* 1 if the plugin may use stdin/stdout (they are not the NBD socket, e.g. with -s), else 0. */
NBDKIT_EXTERN_DECL(int, nbdkit_stdio_safe, (void));
/* A password parameter: the value itself, "-" (ask on the terminal), "-FD" (read from file
 * descriptor FD) or "+FILE" (read from FILE). *password is malloc'd; 0 or -1. */
NBDKIT_EXTERN_DECL(int, nbdkit_read_password, (const char *value, char **password));

/* Sleeps, returning early with -1 (errno ESHUTDOWN) when the server shuts down or the
 * client goes away; 0 after the full time. */
NBDKIT_EXTERN_DECL(int, nbdkit_nanosleep, (unsigned sec, unsigned nsec));

/* The client of the calling connection. -1 after nbdkit_error where it is not known. */
NBDKIT_EXTERN_DECL(int, nbdkit_peer_name, (struct sockaddr * addr, socklen_t *addrlen));
NBDKIT_EXTERN_DECL(int64_t, nbdkit_peer_pid, (void));
NBDKIT_EXTERN_DECL(int64_t, nbdkit_peer_uid, (void));
NBDKIT_EXTERN_DECL(int64_t, nbdkit_peer_gid, (void));

/* Asks the whole server to exit, as a signal would. */
NBDKIT_EXTERN_DECL(void, nbdkit_shutdown, (void));
/* Drops the calling request's client: at once if force, else after the replies in flight. */
NBDKIT_EXTERN_DECL(void, nbdkit_disconnect, (int force));

/* Copies kept until the end of the current connection (or of the process, outside one): the
 * caller never frees them. NULL after nbdkit_error if out of memory. */
NBDKIT_EXTERN_DECL(const char *, nbdkit_strdup_intern, (const char *str));
NBDKIT_EXTERN_DECL(const char *, nbdkit_strndup_intern, (const char *str, size_t n));
NBDKIT_EXTERN_DECL(const char *, nbdkit_printf_intern, (const char *fs, ...)NBDKIT_PRINTF_LIKE(1, 2));
NBDKIT_EXTERN_DECL(const char *, nbdkit_vprintf_intern,
                   (const char *fs, va_list args)NBDKIT_PRINTF_LIKE(1, 0));

/* The list an extents callback fills, in ascending order without gaps: 0 or -1. */
struct nbdkit_extents;
NBDKIT_EXTERN_DECL(int, nbdkit_add_extent,
                   (struct nbdkit_extents * extents, uint64_t offset, uint64_t length, uint32_t type));
/* A list made and read by the caller itself (upstream offers these to filters). */
struct nbdkit_extent {
  uint64_t offset;
  uint64_t length;
  uint32_t type;
};
NBDKIT_EXTERN_DECL(struct nbdkit_extents *, nbdkit_extents_new, (uint64_t start, uint64_t end));
NBDKIT_EXTERN_DECL(void, nbdkit_extents_free, (struct nbdkit_extents * extents));
NBDKIT_EXTERN_DECL(size_t, nbdkit_extents_count, (const struct nbdkit_extents *extents));
NBDKIT_EXTERN_DECL(struct nbdkit_extent, nbdkit_get_extent, (const struct nbdkit_extents *extents, size_t i));

/* The list a list_exports callback fills: 0 or -1. nbdkit_use_default_export adds the
 * export the default_export callback names. */
struct nbdkit_exports;
NBDKIT_EXTERN_DECL(int, nbdkit_add_export,
                   (struct nbdkit_exports * exports, const char *name, const char *description));
NBDKIT_EXTERN_DECL(int, nbdkit_use_default_export, (struct nbdkit_exports * exports));
struct nbdkit_export {
  char *name;
  char *description;
};
NBDKIT_EXTERN_DECL(struct nbdkit_exports *, nbdkit_exports_new, (void));
NBDKIT_EXTERN_DECL(void, nbdkit_exports_free, (struct nbdkit_exports * exports));
NBDKIT_EXTERN_DECL(size_t, nbdkit_exports_count, (const struct nbdkit_exports *exports));
NBDKIT_EXTERN_DECL(struct nbdkit_export, nbdkit_get_export, (const struct nbdkit_exports *exports, size_t i));

/* Return this from open when the plugin keeps no per-connection state: any non-NULL pointer
 * will do, NULL meaning failure. */
#define NBDKIT_HANDLE_NOT_NEEDED ((void *)&errno)

#ifdef __cplusplus
}
#define NBDKIT_CXX_LANG_C extern "C"
#else
#define NBDKIT_CXX_LANG_C
#endif

#endif /* NBDKIT_COMMON_H */
