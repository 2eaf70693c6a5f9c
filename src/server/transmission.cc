// SPDX-License-Identifier: BSD-3-Clause
// The reader loop and the worker pool of one connection (see transmission.h).
#include "server/transmission.h"

#include <sys/resource.h>
#include <sys/socket.h>

#include "nbd/log.h"

namespace nbd::server {
namespace {

using namespace nbd::protocol;

constexpr size_t kFlushThreshold = 256 * 1024;  // send batched replies once this much is queued
// Read and write data held by one connection's requests in flight: a client that sends 32 MiB
// requests and never reads the replies costs this much memory, not threads x 32 MiB. One
// request is always let through, whatever its size.
constexpr uint64_t kMaxInFlightBytes = 128 * 1024 * 1024;
constexpr size_t kInBufferWrite = 128 * 1024;  // write payloads up to this are used in place
// Writes this large are pipelined under the parallel model: a worker copies one into the
// plugin while the reader receives the next, so the two halves of the work use two cores.
constexpr uint64_t kPipelineBytes = 256 * 1024;

}  // namespace

long voluntary_switches() {
  struct rusage ru;
  getrusage(RUSAGE_THREAD, &ru);
  return ru.ru_nvcsw;
}

Transmitter::Transmitter(ServerContext& ctx, Io& io, Connection& conn, const ExportCaps& caps,
                         std::string log_context)
    : ctx_(ctx),
      io_(io),
      conn_(conn),
      caps_(caps),
      log_context_(std::move(log_context)),
      writer_(io, caps_),
      hole_mode_(hole_mode_for(caps, conn, ctx.backend.filter_count())),
      may_offload_(ctx.model == ThreadModel::Parallel && ctx.opts.threads > 1) {
  ws_.watch = may_offload_;  // only the reader times its plugin calls
}

Transmitter::~Transmitter() { drain_and_stop(); }

Status Transmitter::dispatch(const Request& r) {
  Verdict v = validate_request(r, caps_);
  if (v.error) {
    // Keep the stream in sync: a rejected request's payload is read and thrown away. With
    // extended headers any command may carry one (PAYLOAD_LEN); only writes may be large.
    bool payload = r.type == uint16_t(Command::Write) || (caps_.extended && (r.flags & kCmdFlagPayloadLen));
    if (payload && r.type != uint16_t(Command::Write) && r.length > kMaxOptionLength)
      return make_error(EINVAL, "request payload is too large; closing the connection");
    if (payload) NBD_TRY(io_.discard(r.length));
    log::error("invalid request: %s", v.message.c_str());
    writer_.error(ws_.replies, r, v.error, v.message);
    return ok();
  }
  if (offload_) return hand_off(r);
  if (r.type == uint16_t(Command::Write) && r.length >= kPipelineBytes && may_offload_) {
    start_threads();
    return hand_off(r);
  }
  return run_inline(r);
}

Status Transmitter::run_inline(const Request& r) {
  std::span<const std::byte> payload;
  bool in_place = false;
  if (r.type == uint16_t(Command::Write)) {
    size_t n = size_t(r.length);
    if (n <= kInBufferWrite) {
      if (!io_.fill(n)) return make_error(ECONNRESET, "client closed the connection during a write payload");
      payload = {io_.peek(), n};
      in_place = true;
    } else {
      std::span<std::byte> d = ws_.data_buffer(n);
      NBD_TRY(io_.read_exact(d.data(), n));
      payload = d;
    }
  }
  if (may_offload_ && (mark_stale_ || mark_reads_ != io_.read_calls())) {
    switches_mark_ = voluntary_switches();
    mark_reads_ = io_.read_calls();
    mark_stale_ = false;
  }
  ws_.call_slow = false;
  ++inline_calls_;
  NBD_TRY(execute(ws_, r, payload));
  if (in_place) io_.consume(payload.size());
  if (!ws_.call_slow) return ok();
  if (ws_.call_switches <= switches_mark_) {
    mark_stale_ = true;  // preempted, not blocked: look again from here
    return ok();
  }
  bool again = last_slow_ != 0 && inline_calls_ - last_slow_ <= kSlowCallWindow;
  last_slow_ = inline_calls_;
  mark_stale_ = true;
  if (!again && ws_.call_ns < kLongCallNs) return ok();  // a hiccup, unless another follows
  log::debug("%s took %lld us: handing requests to %u worker threads", command_name(r.type),
             static_cast<long long>(ws_.call_ns / 1000), ctx_.opts.threads);
  offload_ = true;
  start_threads();
  return ok();
}

Status Transmitter::hand_off(const Request& r) {
  Job* job;
  {
    uint64_t bytes = r.type == uint16_t(Command::Write) || r.type == uint16_t(Command::Read) ? r.length : 0;
    std::unique_lock lock(mu_);
    space_cv_.wait(lock, [&] {
      return in_flight_ < max_in_flight_ &&
             (in_flight_ == 0 || in_flight_bytes_ + bytes <= kMaxInFlightBytes);
    });
    ++in_flight_;
    in_flight_bytes_ += bytes;
    if (free_.empty()) free_.push_back(std::make_unique<Job>());
    job = free_.back().release();
    free_.pop_back();
    job->bytes = bytes;
  }
  job->r = r;
  if (r.type == uint16_t(Command::Write)) {
    if (job->cap < r.length) {
      job->payload.reset(new std::byte[r.length]);
      job->cap = r.length;
    }
    Status s = io_.read_exact(job->payload.get(), size_t(r.length));
    if (!s) {
      finish(job);
      return s;
    }
  }
  // Replies the reader queued (validation errors) go out before the worker's. If they cannot
  // (the client is gone), the job never runs: it must be given back, or drain_and_stop would
  // wait for it forever.
  if (Status s = flush(ws_); !s) {
    finish(job);
    return s;
  }
  {
    std::lock_guard lock(mu_);
    queue_.push_back(job);
  }
  job_cv_.notify_one();
  return ok();
}

void Transmitter::start_threads() {
  if (!threads_.empty()) return;
  max_in_flight_ = size_t(ctx_.opts.threads) * 4;
  for (unsigned i = 0; i < ctx_.opts.threads; ++i) threads_.emplace_back([this] { worker_loop(); });
}

void Transmitter::worker_loop() {
  log::set_thread_context(log_context_);
  ClientScope client(io_.in_fd());
  Workspace ws;
  for (;;) {
    Job* job;
    {
      std::unique_lock lock(mu_);
      job_cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;
      job = queue_.front();
      queue_.pop_front();
    }
    size_t n = job->r.type == uint16_t(Command::Write) ? size_t(job->r.length) : 0;
    (void)execute(ws, job->r, std::span<const std::byte>(job->payload.get(), n));
    if (!flush(ws) && io_.in_fd() == io_.out_fd()) ::shutdown(io_.in_fd(), SHUT_RDWR);
    ws.release_large_buffer();
    finish(job);
  }
}

// A job is done (replied, or its payload never arrived): its budget returns to the reader, and
// a buffer above kKeepBufferBytes is freed so idle jobs do not keep 32 MiB each.
void Transmitter::finish(Job* job) {
  if (job->cap > kKeepBufferBytes) {
    job->payload.reset();
    job->cap = 0;
  }
  {
    std::lock_guard lock(mu_);
    in_flight_bytes_ -= job->bytes;
    --in_flight_;
    free_.emplace_back(job);
  }
  space_cv_.notify_all();
}

void Transmitter::drain_and_stop() {
  if (threads_.empty()) return;
  {
    std::unique_lock lock(mu_);
    space_cv_.wait(lock, [&] { return in_flight_ == 0; });
    stop_ = true;
  }
  job_cv_.notify_all();
  for (auto& t : threads_) t.join();
  threads_.clear();
}

void Transmitter::run() {
  size_t hs = caps_.extended ? kExtendedRequestSize : kRequestSize;
  io_.enable_spinning();
  for (;;) {
    if (writer_.failed()) break;
    if (io_.buffered() < hs && ws_.replies.out.size() && !flush(ws_)) break;
    Status s = io_.fill(hs);
    if (!s) {
      if (s.error().errnum)
        log::debug("%s", s.error().message.c_str());
      else
        log::debug("client closed input socket, closing connection");
      break;
    }
    auto r = decode_request(std::span<const std::byte>(io_.peek(), hs), caps_.extended);
    if (!r) {
      log::error("client sent a bad request header (%s); closing the connection", r.error().message.c_str());
      break;
    }
    io_.consume(hs);
    if (r->type == uint16_t(Command::Disc)) {
      log::debug("client sent NBD_CMD_DISC, closing connection");
      break;
    }
    if (Status st = dispatch(*r); !st) {
      log::debug("closing the connection: %s", st.error().message.c_str());
      break;
    }
    if (ws_.replies.out.size() >= kFlushThreshold && !flush(ws_)) break;
  }
  drain_and_stop();
  if (!writer_.failed()) (void)flush(ws_);
}

}  // namespace nbd::server
