/* SPDX-License-Identifier: BSD-3-Clause */
/* libnbd.h: the C API of libnbd (libnbd(3)), served by nbdkit++'s client library. Written here
 * from libnbd's manual pages: the same calls, types, constants and semantics, so programs
 * written for libnbd build against it, and programs built against libnbd run on our
 * libnbd.so.0. Every call that fails returns -1 (or NULL) and leaves a message and an errno for
 * this thread in nbd_get_error() and nbd_get_errno(). Link with -lnbd (pkg-config libnbd). */
#ifndef NBDKITPP_LIBNBD_H
#define NBDKITPP_LIBNBD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

struct nbd_handle;

/* ---- constants ---- */
#define LIBNBD_TLS_DISABLE 0
#define LIBNBD_TLS_ALLOW 1
#define LIBNBD_TLS_REQUIRE 2

#define LIBNBD_SIZE_MINIMUM 0
#define LIBNBD_SIZE_PREFERRED 1
#define LIBNBD_SIZE_MAXIMUM 2
#define LIBNBD_SIZE_PAYLOAD 3

#define LIBNBD_CMD_FLAG_FUA 0x01U
#define LIBNBD_CMD_FLAG_NO_HOLE 0x02U
#define LIBNBD_CMD_FLAG_DF 0x04U
#define LIBNBD_CMD_FLAG_REQ_ONE 0x08U
#define LIBNBD_CMD_FLAG_FAST_ZERO 0x10U
#define LIBNBD_CMD_FLAG_MASK 0x1fU

#define LIBNBD_HANDSHAKE_FLAG_FIXED_NEWSTYLE 0x01U
#define LIBNBD_HANDSHAKE_FLAG_NO_ZEROES 0x02U
#define LIBNBD_HANDSHAKE_FLAG_MASK 0x03U

#define LIBNBD_STRICT_COMMANDS 0x01U
#define LIBNBD_STRICT_FLAGS 0x02U
#define LIBNBD_STRICT_BOUNDS 0x04U
#define LIBNBD_STRICT_ZERO_SIZE 0x08U
#define LIBNBD_STRICT_ALIGN 0x10U
#define LIBNBD_STRICT_MASK 0x1fU

#define LIBNBD_ALLOW_TRANSPORT_TCP 0x01U
#define LIBNBD_ALLOW_TRANSPORT_UNIX 0x02U
#define LIBNBD_ALLOW_TRANSPORT_VSOCK 0x04U
#define LIBNBD_ALLOW_TRANSPORT_MASK 0x07U

#define LIBNBD_SHUTDOWN_ABANDON_PENDING 0x10000U
#define LIBNBD_SHUTDOWN_MASK 0x10000U

#define LIBNBD_AIO_DIRECTION_READ 1
#define LIBNBD_AIO_DIRECTION_WRITE 2
#define LIBNBD_AIO_DIRECTION_BOTH 3

#define LIBNBD_READ_DATA 1
#define LIBNBD_READ_HOLE 2
#define LIBNBD_READ_ERROR 3

#define LIBNBD_NAMESPACE_BASE "base:"
#define LIBNBD_CONTEXT_BASE_ALLOCATION "base:allocation"
#define LIBNBD_STATE_HOLE 1
#define LIBNBD_STATE_ZERO 2

/* ---- callbacks: a function, its opaque argument, and an optional free function called once
 * the library will not call the function again (also when the call taking it fails) ---- */
typedef struct {
  int (*callback)(void *user_data, const char *context, const char *msg);
  void *user_data;
  void (*free)(void *user_data);
} nbd_debug_callback;

typedef struct {
  int (*callback)(void *user_data, int *error);
  void *user_data;
  void (*free)(void *user_data);
} nbd_completion_callback;

typedef struct {
  int (*callback)(void *user_data, const void *subbuf, size_t count, uint64_t offset, unsigned status,
                  int *error);
  void *user_data;
  void (*free)(void *user_data);
} nbd_chunk_callback;

/* entries: nr_entries uint32_t values, (length, flags) pairs */
typedef struct {
  int (*callback)(void *user_data, const char *metacontext, uint64_t offset, uint32_t *entries,
                  size_t nr_entries, int *error);
  void *user_data;
  void (*free)(void *user_data);
} nbd_extent_callback;

/* The 64-bit form: each entry one extent. */
typedef struct {
  uint64_t length;
  uint64_t flags;
} nbd_extent;

typedef struct {
  int (*callback)(void *user_data, const char *metacontext, uint64_t offset, nbd_extent *entries,
                  size_t nr_entries, int *error);
  void *user_data;
  void (*free)(void *user_data);
} nbd_extent64_callback;

typedef struct {
  int (*callback)(void *user_data, const char *name, const char *description);
  void *user_data;
  void (*free)(void *user_data);
} nbd_list_callback;

typedef struct {
  int (*callback)(void *user_data, const char *name);
  void *user_data;
  void (*free)(void *user_data);
} nbd_context_callback;

#define NBD_NULL_COMPLETION ((nbd_completion_callback){.callback = NULL})
#define NBD_NULL_CHUNK ((nbd_chunk_callback){.callback = NULL})
#define NBD_NULL_EXTENT ((nbd_extent_callback){.callback = NULL})
#define NBD_NULL_EXTENT64 ((nbd_extent64_callback){.callback = NULL})
#define NBD_NULL_LIST ((nbd_list_callback){.callback = NULL})
#define NBD_NULL_CONTEXT ((nbd_context_callback){.callback = NULL})

/* ---- handles and errors ---- */
extern struct nbd_handle *nbd_create(void);
extern void nbd_close(struct nbd_handle *h);
extern const char *nbd_get_error(void);
extern int nbd_get_errno(void);

/* ---- settings ---- */
extern int nbd_set_debug(struct nbd_handle *h, bool debug);
extern int nbd_get_debug(struct nbd_handle *h);
extern int nbd_set_debug_callback(struct nbd_handle *h, nbd_debug_callback debug_callback);
extern int nbd_clear_debug_callback(struct nbd_handle *h);
extern int nbd_set_handle_name(struct nbd_handle *h, const char *handle_name);
extern char *nbd_get_handle_name(struct nbd_handle *h);
extern uintptr_t nbd_set_private_data(struct nbd_handle *h, uintptr_t private_data);
extern uintptr_t nbd_get_private_data(struct nbd_handle *h);
extern int nbd_set_export_name(struct nbd_handle *h, const char *export_name);
extern char *nbd_get_export_name(struct nbd_handle *h);
extern int nbd_set_request_block_size(struct nbd_handle *h, bool request);
extern int nbd_get_request_block_size(struct nbd_handle *h);
extern int nbd_set_full_info(struct nbd_handle *h, bool request);
extern int nbd_get_full_info(struct nbd_handle *h);
extern int nbd_set_tls(struct nbd_handle *h, int tls);
extern int nbd_get_tls(struct nbd_handle *h);
extern int nbd_set_tls_certificates(struct nbd_handle *h, const char *dir);
extern int nbd_set_tls_verify_peer(struct nbd_handle *h, bool verify);
extern int nbd_get_tls_verify_peer(struct nbd_handle *h);
extern int nbd_set_tls_username(struct nbd_handle *h, const char *username);
extern char *nbd_get_tls_username(struct nbd_handle *h);
extern int nbd_set_tls_psk_file(struct nbd_handle *h, const char *filename);
extern int nbd_set_tls_hostname(struct nbd_handle *h, const char *hostname);
extern int nbd_set_request_structured_replies(struct nbd_handle *h, bool request);
extern int nbd_get_request_structured_replies(struct nbd_handle *h);
extern int nbd_set_request_extended_headers(struct nbd_handle *h, bool request);
extern int nbd_get_request_extended_headers(struct nbd_handle *h);
extern int nbd_set_request_meta_context(struct nbd_handle *h, bool request);
extern int nbd_get_request_meta_context(struct nbd_handle *h);
extern int nbd_set_handshake_flags(struct nbd_handle *h, uint32_t flags);
extern uint32_t nbd_get_handshake_flags(struct nbd_handle *h);
extern int nbd_set_pread_initialize(struct nbd_handle *h, bool request);
extern int nbd_get_pread_initialize(struct nbd_handle *h);
extern int nbd_set_strict_mode(struct nbd_handle *h, uint32_t flags);
extern uint32_t nbd_get_strict_mode(struct nbd_handle *h);
extern int nbd_set_opt_mode(struct nbd_handle *h, bool enable);
extern int nbd_get_opt_mode(struct nbd_handle *h);
extern int nbd_add_meta_context(struct nbd_handle *h, const char *name);
extern ssize_t nbd_get_nr_meta_contexts(struct nbd_handle *h);
extern char *nbd_get_meta_context(struct nbd_handle *h, size_t i);
extern int nbd_clear_meta_contexts(struct nbd_handle *h);
extern int nbd_set_uri_allow_transports(struct nbd_handle *h, uint32_t mask);
extern int nbd_set_uri_allow_tls(struct nbd_handle *h, int tls);
extern int nbd_set_uri_allow_local_file(struct nbd_handle *h, bool allow);

/* ---- connecting ---- */
extern int nbd_connect_uri(struct nbd_handle *h, const char *uri);
extern int nbd_connect_unix(struct nbd_handle *h, const char *unixsocket);
extern int nbd_connect_vsock(struct nbd_handle *h, uint32_t cid, uint32_t port);
extern int nbd_connect_tcp(struct nbd_handle *h, const char *hostname, const char *port);
extern int nbd_connect_socket(struct nbd_handle *h, int sock);
extern int nbd_connect_command(struct nbd_handle *h, char **argv);
extern int nbd_connect_systemd_socket_activation(struct nbd_handle *h, char **argv);
extern int nbd_aio_connect(struct nbd_handle *h, const struct sockaddr *addr, socklen_t addrlen);
extern int nbd_aio_connect_uri(struct nbd_handle *h, const char *uri);
extern int nbd_aio_connect_unix(struct nbd_handle *h, const char *unixsocket);
extern int nbd_aio_connect_vsock(struct nbd_handle *h, uint32_t cid, uint32_t port);
extern int nbd_aio_connect_tcp(struct nbd_handle *h, const char *hostname, const char *port);
extern int nbd_aio_connect_socket(struct nbd_handle *h, int sock);
extern int nbd_aio_connect_command(struct nbd_handle *h, char **argv);
extern int nbd_aio_connect_systemd_socket_activation(struct nbd_handle *h, char **argv);
extern int nbd_kill_subprocess(struct nbd_handle *h, int signum);
extern int nbd_supports_tls(struct nbd_handle *h);
extern int nbd_supports_uri(struct nbd_handle *h);
extern char *nbd_get_uri(struct nbd_handle *h);

/* ---- option negotiation (opt mode) ---- */
extern int nbd_opt_go(struct nbd_handle *h);
extern int nbd_opt_abort(struct nbd_handle *h);
extern int nbd_opt_starttls(struct nbd_handle *h);
extern int nbd_opt_extended_headers(struct nbd_handle *h);
extern int nbd_opt_structured_reply(struct nbd_handle *h);
extern int nbd_opt_list(struct nbd_handle *h, nbd_list_callback list_callback);
extern int nbd_opt_info(struct nbd_handle *h);
extern int nbd_opt_list_meta_context(struct nbd_handle *h, nbd_context_callback context_callback);
extern int nbd_opt_set_meta_context(struct nbd_handle *h, nbd_context_callback context_callback);
extern int nbd_aio_opt_go(struct nbd_handle *h, nbd_completion_callback completion_callback);
extern int nbd_aio_opt_abort(struct nbd_handle *h);
extern int nbd_aio_opt_list(struct nbd_handle *h, nbd_list_callback list_callback,
                            nbd_completion_callback completion_callback);
extern int nbd_aio_opt_info(struct nbd_handle *h, nbd_completion_callback completion_callback);
extern int nbd_aio_opt_list_meta_context(struct nbd_handle *h, nbd_context_callback context_callback,
                                         nbd_completion_callback completion_callback);

/* ---- the export ---- */
extern int64_t nbd_get_size(struct nbd_handle *h);
extern int64_t nbd_get_block_size(struct nbd_handle *h, int size_type);
extern char *nbd_get_canonical_export_name(struct nbd_handle *h);
extern char *nbd_get_export_description(struct nbd_handle *h);
extern int nbd_is_read_only(struct nbd_handle *h);
extern int nbd_can_flush(struct nbd_handle *h);
extern int nbd_can_fua(struct nbd_handle *h);
extern int nbd_is_rotational(struct nbd_handle *h);
extern int nbd_can_trim(struct nbd_handle *h);
extern int nbd_can_zero(struct nbd_handle *h);
extern int nbd_can_fast_zero(struct nbd_handle *h);
extern int nbd_can_df(struct nbd_handle *h);
extern int nbd_can_multi_conn(struct nbd_handle *h);
extern int nbd_can_cache(struct nbd_handle *h);
extern int nbd_can_meta_context(struct nbd_handle *h, const char *metacontext);
extern const char *nbd_get_protocol(struct nbd_handle *h);
extern int nbd_get_tls_negotiated(struct nbd_handle *h);
extern int nbd_get_structured_replies_negotiated(struct nbd_handle *h);
extern int nbd_get_extended_headers_negotiated(struct nbd_handle *h);

/* ---- blocking commands ---- */
extern int nbd_pread(struct nbd_handle *h, void *buf, size_t count, uint64_t offset, uint32_t flags);
extern int nbd_pread_structured(struct nbd_handle *h, void *buf, size_t count, uint64_t offset,
                                nbd_chunk_callback chunk_callback, uint32_t flags);
extern int nbd_pwrite(struct nbd_handle *h, const void *buf, size_t count, uint64_t offset, uint32_t flags);
extern int nbd_shutdown(struct nbd_handle *h, uint32_t flags);
extern int nbd_flush(struct nbd_handle *h, uint32_t flags);
extern int nbd_trim(struct nbd_handle *h, uint64_t count, uint64_t offset, uint32_t flags);
extern int nbd_cache(struct nbd_handle *h, uint64_t count, uint64_t offset, uint32_t flags);
extern int nbd_zero(struct nbd_handle *h, uint64_t count, uint64_t offset, uint32_t flags);
extern int nbd_block_status(struct nbd_handle *h, uint64_t count, uint64_t offset,
                            nbd_extent_callback extent_callback, uint32_t flags);
extern int nbd_block_status_64(struct nbd_handle *h, uint64_t count, uint64_t offset,
                               nbd_extent64_callback extent64_callback, uint32_t flags);

/* ---- asynchronous commands: each returns a cookie (> 0), or -1 ---- */
extern int64_t nbd_aio_pread(struct nbd_handle *h, void *buf, size_t count, uint64_t offset,
                             nbd_completion_callback completion_callback, uint32_t flags);
extern int64_t nbd_aio_pread_structured(struct nbd_handle *h, void *buf, size_t count, uint64_t offset,
                                        nbd_chunk_callback chunk_callback,
                                        nbd_completion_callback completion_callback, uint32_t flags);
extern int64_t nbd_aio_pwrite(struct nbd_handle *h, const void *buf, size_t count, uint64_t offset,
                              nbd_completion_callback completion_callback, uint32_t flags);
extern int nbd_aio_disconnect(struct nbd_handle *h, uint32_t flags);
extern int64_t nbd_aio_flush(struct nbd_handle *h, nbd_completion_callback completion_callback,
                             uint32_t flags);
extern int64_t nbd_aio_trim(struct nbd_handle *h, uint64_t count, uint64_t offset,
                            nbd_completion_callback completion_callback, uint32_t flags);
extern int64_t nbd_aio_cache(struct nbd_handle *h, uint64_t count, uint64_t offset,
                             nbd_completion_callback completion_callback, uint32_t flags);
extern int64_t nbd_aio_zero(struct nbd_handle *h, uint64_t count, uint64_t offset,
                            nbd_completion_callback completion_callback, uint32_t flags);
extern int64_t nbd_aio_block_status(struct nbd_handle *h, uint64_t count, uint64_t offset,
                                    nbd_extent_callback extent_callback,
                                    nbd_completion_callback completion_callback, uint32_t flags);
extern int64_t nbd_aio_block_status_64(struct nbd_handle *h, uint64_t count, uint64_t offset,
                                       nbd_extent64_callback extent64_callback,
                                       nbd_completion_callback completion_callback, uint32_t flags);

/* ---- driving the state machine ---- */
extern int nbd_poll(struct nbd_handle *h, int timeout);
extern int nbd_aio_get_fd(struct nbd_handle *h);
extern unsigned nbd_aio_get_direction(struct nbd_handle *h);
extern int nbd_aio_notify_read(struct nbd_handle *h);
extern int nbd_aio_notify_write(struct nbd_handle *h);
extern int nbd_aio_is_created(struct nbd_handle *h);
extern int nbd_aio_is_connecting(struct nbd_handle *h);
extern int nbd_aio_is_negotiating(struct nbd_handle *h);
extern int nbd_aio_is_ready(struct nbd_handle *h);
extern int nbd_aio_is_processing(struct nbd_handle *h);
extern int nbd_aio_is_dead(struct nbd_handle *h);
extern int nbd_aio_is_closed(struct nbd_handle *h);
extern int nbd_aio_command_completed(struct nbd_handle *h, uint64_t cookie);
extern int64_t nbd_aio_peek_command_completed(struct nbd_handle *h);
extern int nbd_aio_in_flight(struct nbd_handle *h);
extern const char *nbd_connection_state(struct nbd_handle *h);

/* ---- the library ---- */
extern const char *nbd_get_package_name(struct nbd_handle *h);
extern const char *nbd_get_version(struct nbd_handle *h);

#ifdef __cplusplus
}
#endif

#endif /* NBDKITPP_LIBNBD_H */
