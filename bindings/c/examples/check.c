/* SPDX-License-Identifier: BSD-3-Clause */
/* libnbd-check URI: exercises libnbd's C API the way libnbd(3)'s examples use it, against a
 * writable export of at least 1 MiB at URI, and prints what it saw in a form that does not
 * depend on which libnbd runs it (no messages, no timings). tests/interop/libnbd_abi.sh builds
 * it against our libnbd.h and against Debian's, runs it on our libnbd.so.0 and on Debian's,
 * and expects the same output from all. Exit status 1 on the first unexpected result. */
#include <errno.h>
#include <inttypes.h>
#include <libnbd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int frees;
static void count_free(void *user_data) {
  (void)user_data;
  frees++;
}

static int completed;
static int on_complete(void *user_data, int *error) {
  int *seen_error = user_data;
  if (*error) *seen_error = *error;
  completed++;
  return 1; /* retire it */
}

static int on_extent(void *user_data, const char *ctx, uint64_t offset, uint32_t *entries, size_t n,
                     int *error) {
  (void)user_data;
  (void)error;
  printf("extents %s from %" PRIu64 ":", ctx, offset);
  for (size_t i = 0; i + 1 < n; i += 2) printf(" %" PRIu32 "/%" PRIu32, entries[i], entries[i + 1]);
  printf("\n");
  return 0;
}

static int chunks;
static int on_chunk(void *user_data, const void *sub, size_t count, uint64_t off, unsigned status,
                    int *error) {
  (void)user_data;
  (void)sub;
  (void)off;
  (void)error;
  if (status == LIBNBD_READ_DATA || status == LIBNBD_READ_HOLE) chunks += count > 0;
  return 0;
}

static int exports;
static int on_list(void *user_data, const char *name, const char *description) {
  (void)user_data;
  (void)description;
  printf("export: '%s'\n", name);
  exports++;
  return 0;
}

static int debug_lines;
static int on_debug(void *user_data, const char *context, const char *msg) {
  (void)user_data;
  (void)context;
  (void)msg;
  debug_lines++;
  return 0;
}

static const char *errname(int e) {
  switch (e) {
    case 0: return "0";
    case EINVAL: return "EINVAL";
    case ENOENT: return "ENOENT";
    case ERANGE: return "ERANGE";
    case ENOTCONN: return "ENOTCONN";
    case ECONNREFUSED: return "ECONNREFUSED";
    default: return "other";
  }
}

#define CHECK(cond, what)                                               \
  do {                                                                  \
    if (!(cond)) {                                                      \
      fprintf(stderr, "libnbd-check: %s: %s\n", what, nbd_get_error()); \
      exit(1);                                                          \
    }                                                                   \
  } while (0)

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: libnbd-check URI\n");
    return 1;
  }
  const char *uri = argv[1];
  static char buf[1 << 16], back[1 << 16], aio_bufs[8][1 << 16];

  /* A handle with base:allocation and a debug callback. */
  struct nbd_handle *h = nbd_create();
  CHECK(h, "nbd_create");
  CHECK(nbd_set_debug_callback(h, (nbd_debug_callback){.callback = on_debug, .free = count_free}) == 0,
        "nbd_set_debug_callback");
  CHECK(nbd_set_debug(h, true) == 0, "nbd_set_debug");
  CHECK(nbd_add_meta_context(h, LIBNBD_CONTEXT_BASE_ALLOCATION) == 0, "nbd_add_meta_context");
  CHECK(nbd_set_private_data(h, 42) == 0 && nbd_get_private_data(h) == 42, "private data");
  CHECK(nbd_connect_uri(h, uri) == 0, "nbd_connect_uri");
  int64_t size = nbd_get_size(h);
  CHECK(size >= (1 << 20), "nbd_get_size");
  printf("size %" PRId64 " read_only %d flush %d fua %d trim %d zero %d multi_conn %d base:allocation %d\n",
         size, nbd_is_read_only(h), nbd_can_flush(h), nbd_can_fua(h), nbd_can_trim(h), nbd_can_zero(h),
         nbd_can_multi_conn(h), nbd_can_meta_context(h, LIBNBD_CONTEXT_BASE_ALLOCATION));
  printf("structured replies %d, protocol %s\n", nbd_get_structured_replies_negotiated(h),
         nbd_get_protocol(h));

  /* Blocking write, read back, zero, block status. */
  for (size_t i = 0; i < sizeof buf; ++i) buf[i] = (char)(i * 7 + 1);
  CHECK(nbd_pwrite(h, buf, sizeof buf, 0, LIBNBD_CMD_FLAG_FUA) == 0, "nbd_pwrite");
  CHECK(nbd_pread(h, back, sizeof back, 0, 0) == 0, "nbd_pread");
  CHECK(memcmp(buf, back, sizeof buf) == 0, "the bytes read back");
  printf("pwrite/pread 65536 bytes: same\n");
  CHECK(nbd_flush(h, 0) == 0, "nbd_flush");
  CHECK(nbd_zero(h, 65536, 4096, 0) == 0, "nbd_zero");
  CHECK(nbd_pread(h, back, 8192, 0, 0) == 0, "nbd_pread after zero");
  printf("after zero: byte 4095 %d, byte 4096 %d\n", back[4095], back[4096]);
  CHECK(nbd_block_status(h, 1 << 20, 0, (nbd_extent_callback){.callback = on_extent, .free = count_free},
                         0) == 0,
        "nbd_block_status");

  /* Eight reads in flight, each with a completion callback and a free function. */
  int aio_error = 0;
  completed = 0;
  int frees_before = frees;
  for (int i = 0; i < 8; ++i) {
    int64_t c = nbd_aio_pread(
        h, aio_bufs[i], sizeof aio_bufs[i], 0,
        (nbd_completion_callback){.callback = on_complete, .user_data = &aio_error, .free = count_free}, 0);
    CHECK(c > 0, "nbd_aio_pread");
  }
  while (nbd_aio_in_flight(h) > 0) CHECK(nbd_poll(h, -1) != -1, "nbd_poll");
  int same = 1;
  for (int i = 0; i < 8; ++i) same &= memcmp(aio_bufs[i], back, 8192) == 0;
  printf("aio_pread x8: completed %d, freed %d, error %s, data %s\n", completed, frees - frees_before,
         errname(aio_error), same ? "same" : "DIFFERENT");

  /* A structured read left for nbd_aio_command_completed. */
  chunks = 0;
  frees_before = frees;
  int64_t c = nbd_aio_pread_structured(h, buf, 4096, 0,
                                       (nbd_chunk_callback){.callback = on_chunk, .free = count_free},
                                       NBD_NULL_COMPLETION, 0);
  CHECK(c > 0, "nbd_aio_pread_structured");
  int64_t peeked;
  while ((peeked = nbd_aio_peek_command_completed(h)) == 0) CHECK(nbd_poll(h, -1) != -1, "nbd_poll");
  int done = nbd_aio_command_completed(h, (uint64_t)c);
  printf("peek: %s, command_completed %d, chunks %s, freed %d\n", peeked == c ? "the cookie" : "WRONG", done,
         chunks > 0 ? ">0" : "0", frees - frees_before);
  CHECK(nbd_aio_peek_command_completed(h) == -1, "peek with nothing in flight fails");

  /* Errors: each call fails with its errno, and frees what it was given. */
  CHECK(nbd_pread(h, buf, 4096, (uint64_t)size, 0) == -1, "a read past the end fails");
  printf("pread past the end: errno %s, message %s\n", errname(nbd_get_errno()),
         nbd_get_error() ? "set" : "NULL");
  frees_before = frees;
  CHECK(nbd_aio_pread(
            h, buf, 4096, (uint64_t)size,
            (nbd_completion_callback){.callback = on_complete, .user_data = &aio_error, .free = count_free},
            0) == -1,
        "an aio read past the end fails");
  printf("aio_pread past the end: errno %s, freed %d\n", errname(nbd_get_errno()), frees - frees_before);
  printf("unknown cookie: command_completed %d\n", nbd_aio_command_completed(h, 999999));
  CHECK(nbd_set_tls(h, 7) == -1, "nbd_set_tls(7)");
  printf("set_tls(7): errno %s\n", errname(nbd_get_errno()));

  CHECK(nbd_shutdown(h, 0) == 0, "nbd_shutdown");
  printf("closed %d, debug lines %s\n", nbd_aio_is_closed(h), debug_lines > 0 ? ">0" : "0");
  frees_before = frees;
  nbd_close(h);
  printf("nbd_close freed the debug callback: %d\n", frees - frees_before);

  /* Option mode: list, info, go. */
  h = nbd_create();
  CHECK(h, "nbd_create");
  CHECK(nbd_set_opt_mode(h, true) == 0, "nbd_set_opt_mode");
  CHECK(nbd_connect_uri(h, uri) == 0, "nbd_connect_uri (opt mode)");
  printf("negotiating %d\n", nbd_aio_is_negotiating(h));
  exports = 0;
  int n = nbd_opt_list(h, (nbd_list_callback){.callback = on_list});
  printf("opt_list: %d exports\n", n);
  CHECK(nbd_opt_info(h) == 0, "nbd_opt_info");
  printf("opt_info: size %" PRId64 "\n", nbd_get_size(h));
  completed = 0;
  aio_error = 0;
  CHECK(nbd_aio_opt_go(h, (nbd_completion_callback){.callback = on_complete, .user_data = &aio_error}) == 0,
        "nbd_aio_opt_go");
  while (!nbd_aio_is_ready(h) && !nbd_aio_is_dead(h)) CHECK(nbd_poll(h, -1) != -1, "nbd_poll (opt_go)");
  printf("aio_opt_go: ready %d, completed %d, error %s\n", nbd_aio_is_ready(h), completed,
         errname(aio_error));
  CHECK(nbd_pread(h, back, 4096, 0, 0) == 0 && back[0] == 1, "a read after opt_go");
  nbd_close(h); /* without shutdown: allowed */

  /* A server that is not there. */
  h = nbd_create();
  CHECK(h, "nbd_create");
  CHECK(nbd_connect_unix(h, "/nonexistent/nbd.sock") == -1, "connecting to nothing");
  printf("connect to a missing socket: errno %s\n", errname(nbd_get_errno()));
  nbd_close(h);
  printf("done\n");
  return 0;
}
