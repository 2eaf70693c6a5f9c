/* SPDX-License-Identifier: BSD-3-Clause */
/* A filter written for upstream's C filter API (nbdkit-filter(3)), for tests/cabi/c_filter.sh.
 * Built twice: against our include/ and against Debian's /usr/include.
 *   key=N          (consumed) every byte is XORed with N on the way down and back up
 *   disk-size=SIZE (rewritten) passed on to the plugin as size=SIZE
 *   fail-at=OFF    a read touching OFF fails with ENOMEM; a write there with ENOSPC
 * The export is 512 bytes smaller than the plugin's; prepare reads byte 0 through next. */
#include <errno.h>
#include <nbdkit-filter.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int key = -1;
static int64_t fail_at = -1;

struct handle {
  unsigned char first; /* byte 0 of the layer below, read in prepare */
};

static int xor_config(nbdkit_next_config *next, nbdkit_backend *nxdata, const char *k, const char *v) {
  if (strcmp(k, "key") == 0) {
    unsigned u;
    if (nbdkit_parse_unsigned("key", v, &u) == -1) return -1;
    if (u > 255) {
      nbdkit_error("key=%s: must be 0 to 255", v);
      return -1;
    }
    key = (int)u;
    return 0;
  }
  if (strcmp(k, "fail-at") == 0) {
    fail_at = nbdkit_parse_size(v);
    return fail_at == -1 ? -1 : 0;
  }
  if (strcmp(k, "disk-size") == 0) return next(nxdata, "size", v);
  return next(nxdata, k, v);
}

static int xor_config_complete(nbdkit_next_config_complete *next, nbdkit_backend *nxdata) {
  if (key < 0) {
    nbdkit_error("key=N is required");
    return -1;
  }
  return next(nxdata);
}

static void *xor_open(nbdkit_next_open *next, nbdkit_context *ctx, int readonly, const char *name,
                      int is_tls) {
  struct handle *h;
  (void)is_tls;
  if (next(ctx, readonly, name) == -1) return NULL;
  h = calloc(1, sizeof *h);
  if (!h) nbdkit_error("calloc: %m");
  return h;
}

static void xor_close(void *handle) { free(handle); }

static int xor_prepare(nbdkit_next *next, void *handle, int readonly) {
  struct handle *h = handle;
  int err = 0;
  (void)readonly;
  if (next->pread(next, &h->first, 1, 0, 0, &err) == -1) return -1;
  nbdkit_debug("ctest-filter: byte 0 below is 0x%02x", h->first);
  return 0;
}

static int64_t xor_get_size(nbdkit_next *next, void *handle) {
  int64_t size = next->get_size(next);
  (void)handle;
  if (size == -1) return -1;
  return size > 512 ? size - 512 : 0;
}

static int xor_can_zero(nbdkit_next *next, void *handle) {
  (void)next;
  (void)handle;
  return NBDKIT_ZERO_EMULATE; /* zeroes below are not zeroes above */
}

static int xor_can_fast_zero(nbdkit_next *next, void *handle) {
  (void)next;
  (void)handle;
  return 1;
}

static int xor_can_extents(nbdkit_next *next, void *handle) {
  (void)next;
  (void)handle;
  return 0; /* a hole below does not read as zeroes above */
}

static int touches(uint32_t count, uint64_t offset) {
  return fail_at >= 0 && (uint64_t)fail_at >= offset && (uint64_t)fail_at < offset + count;
}

static int xor_pread(nbdkit_next *next, void *handle, void *buf, uint32_t count, uint64_t offset,
                     uint32_t flags, int *err) {
  unsigned char *p = buf;
  uint32_t i;
  (void)handle;
  if (touches(count, offset)) {
    nbdkit_error("ctest-filter: injected read failure at %lld", (long long)fail_at);
    *err = ENOMEM;
    return -1;
  }
  if (next->pread(next, buf, count, offset, flags, err) == -1) return -1;
  for (i = 0; i < count; i++) p[i] ^= (unsigned char)key;
  return 0;
}

static int xor_pwrite(nbdkit_next *next, void *handle, const void *buf, uint32_t count, uint64_t offset,
                      uint32_t flags, int *err) {
  const unsigned char *p = buf;
  unsigned char *q;
  uint32_t i;
  int r;
  (void)handle;
  if (touches(count, offset)) {
    nbdkit_error("ctest-filter: injected write failure at %lld", (long long)fail_at);
    *err = ENOSPC;
    return -1;
  }
  q = malloc(count ? count : 1);
  if (!q) {
    *err = errno;
    nbdkit_error("malloc: %m");
    return -1;
  }
  for (i = 0; i < count; i++) q[i] = p[i] ^ (unsigned char)key;
  r = next->pwrite(next, q, count, offset, flags, err);
  free(q);
  return r;
}

static struct nbdkit_filter filter = {
    .name = "ctest-filter",
    .longname = "nbdkit++ C filter API test",
    .config = xor_config,
    .config_complete = xor_config_complete,
    .config_help = "key=N  XOR every byte with N (required)\nfail-at=OFFSET  fail I/O touching OFFSET",
    .open = xor_open,
    .close = xor_close,
    .prepare = xor_prepare,
    .get_size = xor_get_size,
    .can_zero = xor_can_zero,
    .can_fast_zero = xor_can_fast_zero,
    .can_extents = xor_can_extents,
    .pread = xor_pread,
    .pwrite = xor_pwrite,
};

NBDKIT_REGISTER_FILTER(filter)
