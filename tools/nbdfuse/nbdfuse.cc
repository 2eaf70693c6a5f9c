// SPDX-License-Identifier: BSD-3-Clause
// nbdfuse: an NBD export as a file in a FUSE mount (libfuse3's high-level API), as libnbd's
// nbdfuse(1). Reads and writes go to the server; fsync is flush, fallocate's punch hole and
// zero range are trim and zero, lseek's SEEK_DATA/SEEK_HOLE come from block status. FUSE
// runs several threads (unless -s); with a URI, TCP, Unix or vsock server that offers
// multi-conn, requests spread over -C connections (default 4).
#define FUSE_USE_VERSION 312
#include <fcntl.h>
#include <fuse.h>
#include <linux/falloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include "nbd/client.h"
#include "nbd/parse.h"
#include "options.h"

namespace nbdfuse {
namespace {

using nbd::client::Handle;

struct State {
  Options o;
  std::vector<std::unique_ptr<Handle>> handles;
  std::atomic<unsigned> next{0};
  uint64_t size = 0;
  bool readonly = false, can_flush = false, can_trim = false, can_zero = false, extents = false;
  std::string file;  // "/NAME", or "/" when naked
  time_t start = 0;
};

State& state() { return *static_cast<State*>(fuse_get_context()->private_data); }
Handle& pick(State& s) {
  return *s.handles[s.next.fetch_add(1, std::memory_order_relaxed) % s.handles.size()];
}
int fail(const nbd::Error& e) { return -(e.errnum ? e.errnum : EIO); }

nbd::Status connect(Handle& h, const Options& o) {
  NBD_TRY(h.add_meta_context("base:allocation"));
  h.set_debug(o.verbose);
  h.set_pread_initialize(false);  // FUSE's read buffer is filled by the read or not returned at all
  const auto& a = o.args;
  switch (o.mode) {
    case Mode::Uri: return h.connect_uri(a[0]);
    case Mode::SocketActivation: return h.connect_systemd_socket_activation(a);
    case Mode::Command: return h.connect_command(a);
    case Mode::Fd: {
      NBD_TRY_ASSIGN(uint32_t fd, nbd::parse_uint32("--fd", a[0]));
      return h.connect_socket(int(fd));
    }
    case Mode::Tcp: return h.connect_tcp(a[0], a[1]);
    case Mode::Unix: return h.connect_unix(a[0]);
    case Mode::Vsock: {
      NBD_TRY_ASSIGN(uint32_t cid, nbd::parse_uint32("--vsock", a[0]));
      NBD_TRY_ASSIGN(uint32_t port, nbd::parse_uint32("--vsock", a[1]));
      return h.connect_vsock(cid, port);
    }
  }
  return nbd::ok();
}

void* op_init(struct fuse_conn_info* conn, struct fuse_config*) {
  State& s = state();
  // Larger requests from the kernel (it also raises its pages per request to match): fewer
  // round trips for sequential I/O than the 128 KiB default.
  conn->max_write = 1 << 20;
  conn->max_readahead = 1 << 20;
  if (!s.o.pidfile.empty()) {
    std::string tmp = s.o.pidfile + ".tmp";
    if (FILE* f = fopen(tmp.c_str(), "w")) {
      fprintf(f, "%d\n", int(getpid()));
      fclose(f);
      rename(tmp.c_str(), s.o.pidfile.c_str());
    }
  }
  return &s;
}

int op_getattr(const char* path, struct stat* st, struct fuse_file_info*) {
  State& s = state();
  memset(st, 0, sizeof *st);
  st->st_uid = getuid();
  st->st_gid = getgid();
  st->st_atime = st->st_mtime = st->st_ctime = s.start;
  if (s.file == path) {
    st->st_mode = S_IFREG | (s.readonly ? 0444 : 0644);
    st->st_nlink = 1;
    st->st_size = off_t(s.size);
    st->st_blksize = 4096;
    st->st_blocks = off_t((s.size + 511) / 512);
    return 0;
  }
  if (strcmp(path, "/") == 0) {
    st->st_mode = S_IFDIR | 0555;
    st->st_nlink = 2;
    return 0;
  }
  return -ENOENT;
}

int op_readdir(const char* path, void* buf, fuse_fill_dir_t fill, off_t, struct fuse_file_info*,
               enum fuse_readdir_flags) {
  State& s = state();
  if (strcmp(path, "/") != 0 || s.file == "/") return -ENOTDIR;
  fill(buf, ".", nullptr, 0, fuse_fill_dir_flags(0));
  fill(buf, "..", nullptr, 0, fuse_fill_dir_flags(0));
  fill(buf, s.file.c_str() + 1, nullptr, 0, fuse_fill_dir_flags(0));
  return 0;
}

int op_open(const char* path, struct fuse_file_info* fi) {
  State& s = state();
  if (s.file != path) return -ENOENT;
  if ((fi->flags & O_ACCMODE) != O_RDONLY && s.readonly) return -EROFS;
  return 0;
}

int op_read(const char* path, char* buf, size_t n, off_t off, struct fuse_file_info*) {
  State& s = state();
  if (s.file != path) return -ENOENT;
  if (off < 0) return -EINVAL;
  if (uint64_t(off) >= s.size) return 0;
  n = size_t(std::min<uint64_t>(n, s.size - uint64_t(off)));
  if (n == 0) return 0;
  if (auto r = pick(s).pread({reinterpret_cast<std::byte*>(buf), n}, uint64_t(off)); !r)
    return fail(r.error());
  return int(n);
}

int op_write(const char* path, const char* buf, size_t n, off_t off, struct fuse_file_info*) {
  State& s = state();
  if (s.file != path) return -ENOENT;
  if (s.readonly) return -EROFS;
  if (off < 0) return -EINVAL;
  if (uint64_t(off) >= s.size) return n ? -ENOSPC : 0;
  n = size_t(std::min<uint64_t>(n, s.size - uint64_t(off)));
  if (auto r = pick(s).pwrite({reinterpret_cast<const std::byte*>(buf), n}, uint64_t(off)); !r)
    return fail(r.error());
  return int(n);
}

int op_fsync(const char*, int, struct fuse_file_info*) {
  State& s = state();
  if (s.readonly || !s.can_flush) return 0;
  // Every connection's writes must be on disk: flush them all.
  for (auto& h : s.handles)
    if (auto r = h->flush(); !r) return fail(r.error());
  return 0;
}

int op_truncate(const char*, off_t size, struct fuse_file_info*) {
  // The export's size is fixed: only a "truncate" to the same size (shell redirections) works.
  return uint64_t(size) == state().size ? 0 : -EINVAL;
}

int op_fallocate(const char*, int mode, off_t off, off_t len, struct fuse_file_info*) {
  State& s = state();
  if (s.readonly) return -EROFS;
  if (off < 0 || len <= 0 || uint64_t(off) >= s.size) return -EINVAL;
  uint64_t n = std::min<uint64_t>(uint64_t(len), s.size - uint64_t(off));
  Handle& h = pick(s);
  nbd::Status r;
  if (mode & FALLOC_FL_PUNCH_HOLE) {
    if (!s.can_trim) return -EOPNOTSUPP;
    r = h.trim(n, uint64_t(off));
  } else if (mode & FALLOC_FL_ZERO_RANGE) {
    if (!s.can_zero) return -EOPNOTSUPP;
    r = h.zero(n, uint64_t(off));
  } else {
    return -EOPNOTSUPP;  // allocating space means nothing to an NBD export
  }
  return r ? 0 : fail(r.error());
}

// SEEK_DATA / SEEK_HOLE from base:allocation (without it, all data and one hole at the end).
off_t op_lseek(const char*, off_t off, int whence, struct fuse_file_info*) {
  State& s = state();
  if (whence != SEEK_DATA && whence != SEEK_HOLE) return -EINVAL;
  if (off < 0 || uint64_t(off) >= s.size) return -ENXIO;
  if (!s.extents) return whence == SEEK_DATA ? off : off_t(s.size);
  Handle& h = pick(s);
  uint64_t pos = uint64_t(off);
  while (pos < s.size) {
    uint64_t found = UINT64_MAX, end = pos;
    nbd::client::ExtentCallback cb = [&](std::string_view ctx, uint64_t o, std::span<const nbd::Extent> es,
                                         int*) {
      if (ctx != "base:allocation") return 0;
      for (const nbd::Extent& e : es) {
        uint64_t a = std::max(o, pos);
        o = e.end();
        if (e.end() <= pos) continue;
        bool hole = e.flags & nbd::kExtentHole;
        if (found == UINT64_MAX && hole == (whence == SEEK_HOLE)) found = a;
        end = std::max(end, e.end());
      }
      return 0;
    };
    uint64_t count = std::min<uint64_t>(s.size - pos, uint64_t(1) << 30);
    if (auto r = h.block_status_64(count, pos, cb); !r) return fail(r.error());
    if (found != UINT64_MAX) return off_t(std::min(found, s.size));
    if (end <= pos) return -EIO;
    pos = end;
  }
  return whence == SEEK_HOLE ? off_t(s.size) : -ENXIO;
}

int run(Options o) {
  auto s = std::make_unique<State>();
  s->o = std::move(o);
  s->start = time(nullptr);
  s->file = s->o.filename.empty() ? "/" : "/" + s->o.filename;
  auto first = std::make_unique<Handle>();
  if (auto r = connect(*first, s->o); !r) {
    fprintf(stderr, "nbdfuse: %s\n", r.error().message.c_str());
    return 1;
  }
  auto size = first->get_size();
  if (!size) {
    fprintf(stderr, "nbdfuse: %s\n", size.error().message.c_str());
    return 1;
  }
  s->size = uint64_t(*size);
  s->readonly = s->o.readonly || first->is_read_only().value_or(true);
  s->can_flush = first->can_flush().value_or(false);
  s->can_trim = first->can_trim().value_or(false);
  s->can_zero = first->can_zero().value_or(false);
  s->extents = first->can_meta_context("base:allocation").value_or(false);
  bool multi =
      s->o.mode == Mode::Uri || s->o.mode == Mode::Tcp || s->o.mode == Mode::Unix || s->o.mode == Mode::Vsock;
  unsigned n = multi && first->can_multi_conn().value_or(false) ? s->o.connections : 1;
  s->handles.push_back(std::move(first));
  for (unsigned i = 1; i < n; ++i) {
    auto h = std::make_unique<Handle>();
    if (auto r = connect(*h, s->o); !r) {
      fprintf(stderr, "nbdfuse: connection %u: %s\n", i + 1, r.error().message.c_str());
      return 1;
    }
    s->handles.push_back(std::move(h));
  }

  struct fuse_operations ops = {};
  ops.init = op_init;
  ops.getattr = op_getattr;
  ops.readdir = op_readdir;
  ops.open = op_open;
  ops.read = op_read;
  ops.write = op_write;
  ops.fsync = op_fsync;
  ops.truncate = op_truncate;
  ops.fallocate = op_fallocate;
  ops.lseek = op_lseek;
  // fuse_new + fuse_mount + our own loop (not fuse_main): the thread pool's size is set here,
  // and a failure to mount is our one-line error.
  struct fuse_args args = FUSE_ARGS_INIT(0, nullptr);
  fuse_opt_add_arg(&args, "nbdfuse");
  for (auto& f : s->o.fuse_options) {
    fuse_opt_add_arg(&args, "-o");
    fuse_opt_add_arg(&args, f.c_str());
  }
  struct fuse* f = fuse_new(&args, &ops, sizeof ops, s.get());
  if (!f) {
    fuse_opt_free_args(&args);
    fprintf(stderr, "nbdfuse: FUSE refused the options (see nbdfuse --fuse-help)\n");
    return 1;
  }
  int r = 1;
  if (fuse_mount(f, s->o.mountpoint.c_str()) != 0) {
    fprintf(stderr, "nbdfuse: cannot mount on %s\n", s->o.mountpoint.c_str());
  } else {
    struct fuse_session* se = fuse_get_session(f);
    fuse_set_signal_handlers(se);
    if (s->o.single_thread) {
      r = fuse_loop(f);
    } else {
      struct fuse_loop_config* cfg = fuse_loop_cfg_create();
      fuse_loop_cfg_set_max_threads(cfg, 16);
      r = fuse_loop_mt(f, cfg);
      fuse_loop_cfg_destroy(cfg);
    }
    fuse_remove_signal_handlers(se);
    fuse_unmount(f);
  }
  fuse_destroy(f);
  fuse_opt_free_args(&args);
  for (auto& h : s->handles) (void)h->shutdown();
  return r == 0 ? 0 : 1;
}

}  // namespace
}  // namespace nbdfuse

int main(int argc, char** argv) {
  auto o = nbdfuse::parse_options(argc, argv);
  if (!o) {
    fprintf(stderr, "nbdfuse: %s\n", o.error().message.c_str());
    return 1;
  }
  if (o->help) {
    fputs(nbdfuse::usage_text(), stdout);
    return 0;
  }
  if (o->version) {
    printf("nbdfuse %s (nbdkit++)\n", nbd::client::version());
    return 0;
  }
  if (o->fuse_help) {  // the options -o takes
    struct fuse_args args = FUSE_ARGS_INIT(0, nullptr);
    fuse_opt_add_arg(&args, "nbdfuse");
    printf("FUSE options (nbdfuse -o OPTION):\n");
    fflush(stdout);
    fuse_lib_help(&args);
    fuse_opt_free_args(&args);
    return 0;
  }
  return nbdfuse::run(std::move(*o));
}
