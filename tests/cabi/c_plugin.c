/* SPDX-License-Identifier: BSD-3-Clause */
/* A test plugin written for upstream nbdkit's C API (version 2), the way nbdkit-plugin(3)
 * describes it: an in-memory disk with writes, zeroes, trims, flush, FUA and extents (4 KiB
 * blocks never written or trimmed are holes). Built against our include/ and against Debian's
 * headers (tests/cabi/CMakeLists.txt); served by tests/cabi/c_plugin.sh.
 *
 * Parameters: size=SIZE (required, also the bare first value); fail-write-at=OFFSET makes a
 * write covering OFFSET fail with ENOSPC; fail-read-at=OFFSET makes a read covering it fail
 * with ENOMEM through errno (errno_is_preserved). Exports: "" is the default, "main", and "other"
 * (the same disk; its description differs). */
#define NBDKIT_API_VERSION 2
#include <errno.h>
#include <inttypes.h>
#include <nbdkit-plugin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL
#define BLOCK 4096

static int64_t size = -1;
static int64_t fail_write_at = -1;
static int64_t fail_read_at = -1;
static unsigned char *disk;
static unsigned char *allocated; /* one byte per block: 1 once written */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static int test_config(const char *key, const char *value) {
  if (strcmp(key, "size") == 0) {
    size = nbdkit_parse_size(value);
    return size == -1 ? -1 : 0;
  }
  if (strcmp(key, "fail-write-at") == 0 || strcmp(key, "fail-read-at") == 0) {
    uint64_t v;
    if (nbdkit_parse_uint64_t(key, value, &v) == -1) return -1;
    *(key[5] == 'w' ? &fail_write_at : &fail_read_at) = (int64_t)v;
    return 0;
  }
  nbdkit_error("unknown parameter '%s'", key);
  return -1;
}

static int test_config_complete(void) {
  if (size == -1) {
    nbdkit_error("size=SIZE is required");
    return -1;
  }
  disk = calloc(1, size ? size : 1);
  allocated = calloc(1, size / BLOCK + 1);
  if (!disk || !allocated) {
    nbdkit_error("calloc: %m");
    return -1;
  }
  return 0;
}

static void test_unload(void) {
  free(disk);
  free(allocated);
}

static void test_dump_plugin(void) { printf("c_plugin_test=yes\n"); }

static int test_list_exports(int readonly, int is_tls, struct nbdkit_exports *exports) {
  (void)readonly;
  (void)is_tls;
  if (nbdkit_use_default_export(exports) == -1) return -1;
  return nbdkit_add_export(exports, "other", "the other export");
}

static const char *test_default_export(int readonly, int is_tls) {
  (void)readonly;
  (void)is_tls;
  return "main";
}

static void *test_open(int readonly) {
  const char *name = nbdkit_export_name();
  (void)readonly;
  if (!name) return NULL;
  if (strcmp(name, "") != 0 && strcmp(name, "main") != 0 && strcmp(name, "other") != 0) {
    nbdkit_error("no export called '%s'", name);
    return NULL;
  }
  nbdkit_debug("open export '%s'", name);
  return (void *)nbdkit_strdup_intern(name);
}

static const char *test_export_description(void *handle) {
  return strcmp(handle, "other") == 0 ? "the other export" : "the main export";
}

static int64_t test_get_size(void *handle) {
  (void)handle;
  return size;
}

static int test_can_multi_conn(void *handle) {
  (void)handle;
  return 1;
}
static int test_can_fua(void *handle) {
  (void)handle;
  return NBDKIT_FUA_NATIVE;
}
static int test_can_cache(void *handle) {
  (void)handle;
  return NBDKIT_CACHE_NATIVE;
}

static int covers(int64_t at, uint32_t count, uint64_t offset) {
  return at >= 0 && (uint64_t)at >= offset && (uint64_t)at < offset + count;
}

static void mark(uint64_t offset, uint32_t count, unsigned char v) {
  uint64_t b;
  for (b = offset / BLOCK; b * BLOCK < offset + count; b++) allocated[b] = v;
}

/* Whole blocks in [offset, offset+count) become holes again. */
static void unmark_whole(uint64_t offset, uint32_t count) {
  uint64_t first = (offset + BLOCK - 1) / BLOCK, end = (offset + count) / BLOCK, b;
  if ((offset + count) == (uint64_t)size) end = (size + BLOCK - 1) / BLOCK;
  for (b = first; b < end; b++) allocated[b] = 0;
}

static int test_pread(void *handle, void *buf, uint32_t count, uint64_t offset, uint32_t flags) {
  (void)handle;
  (void)flags;
  if (covers(fail_read_at, count, offset)) {
    /* errno set before nbdkit_error, which must leave it alone (errno_is_preserved). */
    errno = ENOMEM;
    nbdkit_error("pread at %" PRIu64 ": injected failure: %m", offset);
    return -1;
  }
  pthread_mutex_lock(&lock);
  memcpy(buf, disk + offset, count);
  pthread_mutex_unlock(&lock);
  return 0;
}

static int test_pwrite(void *handle, const void *buf, uint32_t count, uint64_t offset, uint32_t flags) {
  (void)handle;
  (void)flags;
  if (covers(fail_write_at, count, offset)) {
    nbdkit_error("pwrite at %" PRIu64 ": injected failure", offset);
    nbdkit_set_error(ENOSPC);
    return -1;
  }
  pthread_mutex_lock(&lock);
  memcpy(disk + offset, buf, count);
  mark(offset, count, 1);
  pthread_mutex_unlock(&lock);
  return 0;
}

static int test_flush(void *handle, uint32_t flags) {
  (void)handle;
  (void)flags;
  return 0;
}

static int test_trim(void *handle, uint32_t count, uint64_t offset, uint32_t flags) {
  (void)handle;
  (void)flags;
  pthread_mutex_lock(&lock);
  memset(disk + offset, 0, count);
  unmark_whole(offset, count);
  pthread_mutex_unlock(&lock);
  return 0;
}

static int test_zero(void *handle, uint32_t count, uint64_t offset, uint32_t flags) {
  (void)handle;
  pthread_mutex_lock(&lock);
  memset(disk + offset, 0, count);
  if (flags & NBDKIT_FLAG_MAY_TRIM) unmark_whole(offset, count);
  pthread_mutex_unlock(&lock);
  return 0;
}

static int test_cache(void *handle, uint32_t count, uint64_t offset, uint32_t flags) {
  (void)handle;
  (void)count;
  (void)offset;
  (void)flags;
  return 0;
}

static int test_extents(void *handle, uint32_t count, uint64_t offset, uint32_t flags,
                        struct nbdkit_extents *extents) {
  uint64_t b = offset / BLOCK, end = offset + count;
  (void)handle;
  pthread_mutex_lock(&lock);
  for (; b * BLOCK < end && (int64_t)(b * BLOCK) < size; b++) {
    uint64_t start = b * BLOCK, len = BLOCK;
    if (start + len > (uint64_t)size) len = size - start;
    if (nbdkit_add_extent(extents, start, len, allocated[b] ? 0 : NBDKIT_EXTENT_HOLE | NBDKIT_EXTENT_ZERO) ==
        -1) {
      pthread_mutex_unlock(&lock);
      return -1;
    }
    if (flags & NBDKIT_FLAG_REQ_ONE) break;
  }
  pthread_mutex_unlock(&lock);
  return 0;
}

static struct nbdkit_plugin plugin = {
    .name = "ctest",
    .longname = "nbdkit++ C ABI test plugin",
    .version = "1.0",
    .description = "An in-memory disk written against upstream's C plugin API.",
    .unload = test_unload,
    .config = test_config,
    .config_complete = test_config_complete,
    .config_help =
        "size=SIZE  (required) size of the disk\n"
        "fail-write-at=OFFSET  writes covering OFFSET fail with ENOSPC",
    .magic_config_key = "size",
    .dump_plugin = test_dump_plugin,
    .list_exports = test_list_exports,
    .default_export = test_default_export,
    .open = test_open,
    .export_description = test_export_description,
    .get_size = test_get_size,
    .can_multi_conn = test_can_multi_conn,
    .can_fua = test_can_fua,
    .can_cache = test_can_cache,
    .pread = test_pread,
    .pwrite = test_pwrite,
    .flush = test_flush,
    .trim = test_trim,
    .zero = test_zero,
    .cache = test_cache,
    .extents = test_extents,
    .errno_is_preserved = 1,
};

NBDKIT_REGISTER_PLUGIN(plugin)
