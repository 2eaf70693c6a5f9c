// SPDX-License-Identifier: BSD-3-Clause
// nbdcopy: copy between NBD servers, files, devices, pipes and null:. Opens both ends,
// prepares the destination, picks the parallel or the synchronous copier and reports errors
// as one "nbdcopy: ..." line with exit status 1.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include "copier.h"
#include "endpoint.h"
#include "options.h"
#include "progress.h"

namespace nbd::copy {
namespace {

Result<std::unique_ptr<Endpoint>> open_endpoint(const EndpointSpec& s, Role role, const Options& o) {
  EndpointOptions eo;
  eo.verbose = o.copy.verbose;
  eo.connections = o.connections;
  switch (s.kind) {
    case EndpointSpec::Kind::Stdio: return open_pipe_endpoint(role == Role::Source ? 0 : 1, "-", role);
    case EndpointSpec::Kind::Null: return open_null_endpoint();
    case EndpointSpec::Kind::Uri: return open_nbd_endpoint(s.text, role, eo);
    case EndpointSpec::Kind::Command: return open_nbd_command_endpoint(s.argv, role, eo);
    case EndpointSpec::Kind::File: break;
  }
  return open_file_endpoint(s.text, role);
}

void describe(const char* what, const Endpoint& e) {
  auto size = e.size();
  std::fprintf(stderr, "nbdcopy: %s: %s: size=%s%s extents=%s channels=%u\n", what, e.name().c_str(),
               size ? std::to_string(*size).c_str() : "unknown", e.is_stream() ? " (stream)" : "",
               e.can_extents() ? "yes" : "no", e.max_channels());
}

// Copying a file onto itself would truncate it first: refuse.
Status check_not_same_file(const Options& o) {
  if (o.source.kind != EndpointSpec::Kind::File || o.destination.kind != EndpointSpec::Kind::File)
    return ok();
  struct stat a, b;
  if (::stat(o.source.text.c_str(), &a) == 0 && ::stat(o.destination.text.c_str(), &b) == 0 &&
      a.st_dev == b.st_dev && a.st_ino == b.st_ino)
    return make_error(EINVAL, o.destination.text + ": source and destination are the same file");
  return ok();
}

// Fits the copy options to both endpoints: sparse block, queue depth, request size, and how
// many connections and threads the servers allow.
void plan(Options& o, const Endpoint& src, const Endpoint& dst) {
  // Nothing to keep sparse in null:, so do not spend time looking for zeroes, nor bring the
  // data into memory at all unless --blkhash needs it.
  o.copy.discard_reads = dst.discards_writes() && !o.blkhash;
  if (dst.discards_writes())
    o.copy.sparse = 0;
  else if (!o.sparse_set)
    o.copy.sparse = std::max<uint64_t>(o.copy.sparse, dst.preferred_block_size());
  if (!o.queue_size_set && (src.is_remote() || dst.is_remote())) {
    o.copy.queue_size = kRemoteQueueSize;
    if (!o.requests_set) o.copy.requests = requests_for(o.copy);
  }
  for (const Endpoint* e : {&src, &dst}) {
    if (uint32_t max = e->max_request_size(); max >= 4096 && max < o.copy.request_size) {
      o.copy.request_size = 4096;  // largest power of two within the server's maximum
      while (o.copy.request_size * 2 <= max) o.copy.request_size *= 2;
      if (!o.requests_set) o.copy.requests = requests_for(o.copy);  // keep the bytes in flight
    }
  }
  // By default one connection per thread (measured: fewer CPU cycles than more connections
  // sharing the threads); an explicit -C above -T runs several connections per event loop.
  unsigned want = o.connections_set ? o.connections : std::min(o.connections, o.copy.threads);
  o.copy.connections = std::min({want, src.max_channels(), dst.max_channels()});
  o.copy.threads = std::min(o.copy.threads, o.copy.connections);
}

Status print_blkhash(Blkhash& b, uint64_t size, const std::string& file) {
  NBD_TRY_ASSIGN(std::string hex, b.finish(size));
  hex += '\n';
  FILE* f = file.empty() ? stdout : std::fopen(file.c_str(), "w");
  if (!f) return make_error(errno, file + ": " + std::strerror(errno));
  bool good = std::fputs(hex.c_str(), f) >= 0;
  good = (f == stdout ? std::fflush(f) : std::fclose(f)) == 0 && good;
  if (!good)
    return make_error(EIO, (file.empty() ? std::string("standard output") : file) + ": write failed");
  return ok();
}

Status run(Options& o) {
  NBD_TRY(check_not_same_file(o));
  NBD_TRY_ASSIGN(auto src, open_endpoint(o.source, Role::Source, o));
  NBD_TRY_ASSIGN(auto dst, open_endpoint(o.destination, Role::Destination, o));
  if (o.copy.verbose) {
    describe("source", *src);
    describe("destination", *dst);
  }
  auto src_size = src->is_stream() ? std::nullopt : src->size();
  // A regular-file destination is resized to fit; anything else must be large enough.
  NBD_TRY_ASSIGN(bool dst_zero, dst->prepare_destination(src_size));
  if (auto dsize = dst->size(); src_size && dsize && !dst->is_stream() && *dsize < *src_size)
    return make_error(ENOSPC, dst->name() + ": destination size (" + std::to_string(*dsize) +
                                  ") is smaller than source size (" + std::to_string(*src_size) + ")");
  dst_zero = dst_zero || o.copy.destination_is_zero;
  plan(o, *src, *dst);
  const bool sync = o.copy.synchronous || src->is_stream() || dst->is_stream() || !src_size;
  if (o.copy.verbose)
    std::fprintf(stderr,
                 "nbdcopy: %s copy, connections=%u threads=%u request-size=%u requests=%u queue-size=%llu "
                 "sparse=%llu\n",
                 sync ? "synchronous" : "parallel", sync ? 1 : o.copy.connections, sync ? 1 : o.copy.threads,
                 o.copy.request_size, o.copy.requests, static_cast<unsigned long long>(o.copy.queue_size),
                 static_cast<unsigned long long>(o.copy.sparse));

  Progress::Mode mode = o.progress_fd >= 0 ? Progress::Mode::Machine
                        : o.progress_bar   ? Progress::Mode::Bar
                                           : Progress::Mode::Off;
  Progress progress(mode, o.progress_fd >= 0 ? o.progress_fd : 2, src_size.value_or(0));
  std::unique_ptr<Blkhash> blkhash;
  if (o.blkhash) {
    NBD_TRY_ASSIGN(blkhash, Blkhash::create(*o.blkhash, src_size));
    o.copy.blkhash = blkhash.get();
  }
  progress.start();
  if (sync) {
    NBD_TRY(copy_sync(*src, *dst, o.copy, dst_zero, progress));
  } else {
    NBD_TRY(copy_multi(*src, *dst, o.copy, dst_zero, progress));
  }
  progress.finish();
  if (blkhash) NBD_TRY(print_blkhash(*blkhash, src_size.value_or(blkhash->end()), o.blkhash_file));
  return ok();
}

}  // namespace
}  // namespace nbd::copy

int main(int argc, char** argv) {
  using namespace nbd::copy;
  // A closed pipe on "-" must be an error, not a silent death.
  std::signal(SIGPIPE, SIG_IGN);
  auto o = parse_options(argc, argv);
  if (!o) {
    std::fprintf(stderr, "nbdcopy: %s\n", o.error().message.c_str());
    return 1;
  }
  if (o->help) {
    std::fputs(usage_text(), stdout);
    return 0;
  }
  if (o->version) {
    std::printf("nbdcopy %s (nbdkit++)\n", NBD_VERSION);
    return 0;
  }
  if (auto st = run(*o); !st) {
    std::fprintf(stderr, "nbdcopy: %s\n", st.error().message.c_str());
    return 1;
  }
  return 0;
}
