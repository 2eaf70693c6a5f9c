/* SPDX-License-Identifier: BSD-3-Clause */
/* A test plugin for upstream's C API version 1 (no flags on the data callbacks): a 1 MiB
 * in-memory disk with pread, pwrite, zero (may_trim) and flush, and no extents. */
#include <nbdkit-plugin.h>
#include <string.h>

#define THREAD_MODEL NBDKIT_THREAD_MODEL_SERIALIZE_ALL_REQUESTS
#define SIZE (1024 * 1024)

static unsigned char disk[SIZE];

static void *v1_open(int readonly) {
  (void)readonly;
  return NBDKIT_HANDLE_NOT_NEEDED;
}

static int64_t v1_get_size(void *handle) {
  (void)handle;
  return SIZE;
}

static int v1_pread(void *handle, void *buf, uint32_t count, uint64_t offset) {
  (void)handle;
  memcpy(buf, disk + offset, count);
  return 0;
}

static int v1_pwrite(void *handle, const void *buf, uint32_t count, uint64_t offset) {
  (void)handle;
  memcpy(disk + offset, buf, count);
  return 0;
}

static int v1_zero(void *handle, uint32_t count, uint64_t offset, int may_trim) {
  (void)handle;
  (void)may_trim;
  memset(disk + offset, 0, count);
  return 0;
}

static int v1_flush(void *handle) {
  (void)handle;
  return 0;
}

static struct nbdkit_plugin plugin = {
    .name = "ctestv1",
    .open = v1_open,
    .get_size = v1_get_size,
    .pread = v1_pread,
    .pwrite = v1_pwrite,
    .zero = v1_zero,
    .flush = v1_flush,
};

NBDKIT_REGISTER_PLUGIN(plugin)
