// SPDX-License-Identifier: BSD-3-Clause
// The transmission phase of one connection. The reader thread decodes requests from a buffer
// holding many of them, validates each once, and either runs it itself (cheap plugins: no
// thread handoff, replies batched into one write per burst) or, once a call has been seen to
// block (> ~1 ms) under the parallel thread model, hands it to -t worker threads.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "nbd/plugin.h"
#include "nbd/protocol.h"
#include "server/guard.h"
#include "server/io.h"
#include "server/reply_writer.h"
#include "server/session.h"
#include "server/threads.h"
#include "server/validate.h"

namespace nbd::server {

// Holes on the wire (read_chunks.cc): how a connection finds the parts of a large read to
// send as OFFSET_HOLE chunks. None without structured replies; Extents when the stack is a
// plugin alone that reports extents; Scan otherwise (all-zero 4 KiB blocks of what was read).
enum class HoleMode { None, Extents, Scan };
HoleMode hole_mode_for(const ExportCaps& caps, Connection& top, size_t filters);
// Reads of at least kHoleMinRead bytes may carry holes (smaller ones, the random I/O of
// databases and VMs, pay nothing); zero runs shorter than kHoleMinLength go as data; a read
// that would need more than kMaxReadChunks chunks goes as one data chunk.
inline constexpr size_t kHoleMinRead = 128 * 1024;
inline constexpr uint64_t kHoleMinLength = 4096;
inline constexpr size_t kMaxReadChunks = 64;

// One piece of a read sent as several chunks.
struct ReadChunk {
  uint64_t offset = 0, length = 0;
  bool hole = false;
};

// Per-thread reusable buffers: queued replies, read data, extents, a read's chunks.
struct Workspace {
  ReplyBatch replies;
  std::unique_ptr<std::byte[]> data;
  size_t data_cap = 0;
  std::vector<protocol::BlockDescriptor> descs;
  ExtentList extents{0, 0};
  std::vector<ReadChunk> chunks;
  std::vector<std::byte> chunk_headers;
  std::vector<struct iovec> pieces;
  std::span<std::byte> data_buffer(size_t n);
  void release_large_buffer();  // frees a data buffer above kKeepBufferBytes (execute.cc)
  // The reader's plugin-call timing (see Transmitter::call): set watch to measure.
  bool watch = false;
  bool call_slow = false;
  int64_t call_ns = 0;
  long call_switches = 0;
};

// Buffers above this are freed after use rather than kept for the next request.
constexpr size_t kKeepBufferBytes = 4 * 1024 * 1024;

// A call slower than this (plus 1 ns per byte moved) during which the thread gave up the CPU
// voluntarily (I/O, sleep, a lock) means the plugin blocks: offload to workers. Being
// preempted on a busy machine is an involuntary switch and does not count.
constexpr int64_t kSlowCallNs = 1'000'000;
// One such call among many fast ones is a hiccup, not a plugin that waits: a major page fault,
// or a Go plugin's runtime taking its thread off the CPU for a moment (it preempts a thread
// that has run Go code for 10 ms, fast calls included). Requests go to the workers at the
// second slow call within kSlowCallWindow inline calls, or at once if a call took
// kLongCallNs: moving a Go plugin's fast connections to workers multiplied their cost by five.
constexpr uint64_t kSlowCallWindow = 256;
constexpr int64_t kLongCallNs = 20'000'000;
// This thread's voluntary context switches so far.
long voluntary_switches();

class Transmitter {
 public:
  Transmitter(ServerContext& ctx, Io& io, Connection& conn, const ExportCaps& caps, std::string log_context);
  ~Transmitter();
  void run();

 private:
  struct Job {
    protocol::Request r;
    std::unique_ptr<std::byte[]> payload;
    size_t cap = 0;
    uint64_t bytes = 0;  // data this request holds while in flight (its payload or its reply)
  };

  void finish(Job* job);

  // ---- reader ----
  Status dispatch(const protocol::Request& r);
  Status run_inline(const protocol::Request& r);
  Status hand_off(const protocol::Request& r);

  // ---- execution (any thread; each with its own Workspace); replies go through writer_ ----
  Status execute(Workspace& ws, const protocol::Request& r, std::span<const std::byte> payload);
  Status do_read(Workspace& ws, const protocol::Request& r);
  // Fill ws.chunks for a read; true when it is worth sending in chunks (read_chunks.cc).
  bool plan_chunks_from_extents(Workspace& ws, const protocol::Request& r);
  bool plan_chunks_from_zeroes(Workspace& ws, const protocol::Request& r, std::span<const std::byte> buf);
  // Sends ws.chunks: `have` is the whole range already read, or null to read the data chunks.
  Status send_read_chunks(Workspace& ws, const protocol::Request& r, std::byte* have);
  Status do_block_status(Workspace& ws, const protocol::Request& r);
  // Runs op under the serialize_all_requests lock when the thread model asks for it, through
  // guard (exceptions become EIO); call adds the logging and the reader's timing.
  template <class F>
  Status locked(const char* what, F&& op);
  template <class F>
  Status call(Workspace& ws, const protocol::Request& r, F&& op);
  // Sends what ws has queued (then `data`); see ReplyWriter::flush.
  Status flush(Workspace& ws, std::span<const std::byte> data = {});
  Status flush(Workspace& ws, std::span<const struct iovec> pieces);

  // ---- workers ----
  void start_threads();
  void worker_loop();
  void drain_and_stop();

  ServerContext& ctx_;
  Io& io_;
  Connection& conn_;
  ExportCaps caps_;
  std::string log_context_;
  ReplyWriter writer_;
  const HoleMode hole_mode_;
  std::atomic<uint32_t> hole_skip_{0};     // large reads left to send without asking (read_chunks.cc)
  std::atomic<uint32_t> slow_extents_{0};  // slow extents calls in a row
  Workspace ws_;                           // the reader's
  // Requests may go to worker threads: the parallel model with -t above 1.
  const bool may_offload_;
  bool offload_ = false;  // every request goes to the workers (the plugin was seen to block)
  // Voluntary context switches counted when the reader last could have blocked (a socket
  // read or write); see run_inline. Re-sampled only then, so it costs one getrusage per burst.
  long switches_mark_ = 0;
  uint64_t mark_reads_ = ~uint64_t(0);
  bool mark_stale_ = true;
  uint64_t inline_calls_ = 0;  // run by the reader so far
  uint64_t last_slow_ = 0;     // inline_calls_ at the last slow call that blocked (0: none)

  std::mutex mu_;
  std::condition_variable job_cv_, space_cv_;
  std::deque<Job*> queue_;
  std::vector<std::unique_ptr<Job>> free_;
  size_t in_flight_ = 0, max_in_flight_ = 0;
  uint64_t in_flight_bytes_ = 0;  // bounded by kMaxInFlightBytes (transmission.cc)
  bool stop_ = false;
  std::vector<ServerThread> threads_;
};

template <class F>
Status Transmitter::locked(const char* what, F&& op) {
  std::unique_lock<std::mutex> lock(ctx_.all_requests, std::defer_lock);
  if (ctx_.model == ThreadModel::SerializeAllRequests) lock.lock();
  return guard(what, op);
}

}  // namespace nbd::server
