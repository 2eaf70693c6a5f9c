// SPDX-License-Identifier: BSD-3-Clause
// bench_loadgen: random-I/O load on an NBD export through our client library (nbd::client), for
// bench/run's server rows: fio's nbd engine (libnbd 1.14) runs out of one core before a fast
// server does. Each thread drives its own handles, qd commands in flight on each.
#include <poll.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "loadgen_options.h"
#include "nbd/client.h"

// Counts this thread's allocations, so the run can show that the per-request path makes none.
static thread_local uint64_t t_allocations = 0;

// GCC 12 with -fsanitize=thread inlines these into make_unique and then takes our free for a
// mismatch with operator new: it is the same malloc/free pair.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(std::size_t n) {
  ++t_allocations;
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace {

using nbd::bench::Options;
using nbd::bench::Rw;
using Clock = std::chrono::steady_clock;

constexpr int kConnectTimeoutMs = 10000;
constexpr auto kDrainTimeout = std::chrono::seconds(10);
constexpr uint64_t kVerifyBatch = 16384;  // blocks written, then read back, per round

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// What a block written at `offset` holds: 8-byte words that depend on the seed and their own
// offset (so a block read back from the wrong place differs), none of them zero.
void fill_pattern(std::span<std::byte> buf, uint64_t seed, uint64_t offset) {
  for (size_t i = 0; i + 8 <= buf.size(); i += 8) {
    uint64_t s = seed ^ (offset + i);
    uint64_t w = splitmix64(s) | 1;
    std::memcpy(buf.data() + i, &w, 8);
  }
}

std::atomic<bool> g_error_printed{false};
void print_first_error(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void print_first_error(const char* fmt, ...) {
  if (g_error_printed.exchange(true)) return;
  va_list ap;
  va_start(ap, fmt);
  std::fputs("bench_loadgen: ", stderr);
  std::vfprintf(stderr, fmt, ap);
  std::fputc('\n', stderr);
  va_end(ap);
}

struct Counters {
  uint64_t ops = 0, errors = 0, mismatches = 0, verified = 0, allocations = 0;
  double seconds = 0;
};

struct Slot {
  uint64_t offset = 0;
  bool write = false;
  int error = 0;
  std::byte* rbuf = nullptr;
  std::byte* wbuf = nullptr;
};

// One handle with qd slots. Its buffers, slot lists and callbacks are made once; a command's
// completion callback only notes the slot, and pump() counts it and reissues it.
class Conn {
 public:
  Conn(const Options& o, unsigned index) : o_(o), index_(index), rng_(o.seed * 1000003 + index) {
    slots_.resize(o.qd);
    buffers_.resize(size_t(2) * o.qd * o.bs);
    completed_.reserve(o.qd);
    idle_.reserve(o.qd);
    write_failed_.resize(kVerifyBatch);
    for (uint32_t i = 0; i < o.qd; ++i) {
      slots_[i].rbuf = buffers_.data() + size_t(2 * i) * o.bs;
      slots_[i].wbuf = slots_[i].rbuf + o.bs;
      fill_pattern({slots_[i].wbuf, o.bs}, o.seed, uint64_t(index) << 32 | i);
      idle_.push_back(i);
    }
  }

  nbd::Status connect();
  bool busy() const { return in_flight_ > 0 || (o_.verify && !verify_done_); }
  bool dead() const { return dead_; }
  size_t in_flight() const { return in_flight_; }
  nbd::client::Handle& handle() { return h_; }
  void die(const char* what);
  // Counts the retired commands and, unless stopping, issues new ones in the free slots.
  void pump(bool stopping);
  void disconnect();
  Counters counters;

 private:
  bool next_request(Slot& s, bool stopping);
  bool next_verify_request(Slot& s, bool stopping);
  void issue(uint32_t i);
  void retire(uint32_t i);

  const Options& o_;
  unsigned index_;
  uint64_t rng_;
  nbd::client::Handle h_;
  uint64_t nblocks_ = 0;
  std::vector<Slot> slots_;
  std::vector<std::byte> buffers_;
  std::vector<uint32_t> completed_, idle_;
  size_t in_flight_ = 0;
  bool dead_ = false;
  // --verify: this connection's blocks are index_, index_ + connections, ...; a round writes
  // blocks [begin_, end_) of that list, then reads them back and compares.
  uint64_t owned_ = 0, begin_ = 0, end_ = 0, next_ = 0;
  bool reading_ = false, verify_done_ = false;
  std::vector<uint8_t> write_failed_;  // per block of the round
};

nbd::Status Conn::connect() {
  h_.set_pread_initialize(false);
  NBD_TRY(h_.aio_connect_uri(o_.uri));
  auto deadline = Clock::now() + std::chrono::milliseconds(kConnectTimeoutMs);
  while (!h_.aio_is_ready()) {
    if (Clock::now() > deadline)
      return nbd::make_error(ETIMEDOUT, "the server did not finish the handshake within 10 s");
    NBD_TRY(h_.poll(100));
    if (h_.aio_is_dead() || h_.aio_is_closed()) return nbd::make_error(ECONNRESET, h_.get_error());
  }
  NBD_TRY_ASSIGN(int64_t size, h_.get_size());
  nblocks_ = uint64_t(size) / o_.bs;
  if (nblocks_ == 0)
    return nbd::make_error(EINVAL, "the export (" + std::to_string(size) + " bytes) is smaller than --bs");
  NBD_TRY_ASSIGN(bool ro, h_.is_read_only());
  if (ro && (o_.rw != Rw::RandRead || o_.verify))
    return nbd::make_error(EPERM, "the export is read-only (use --rw=randread, without --verify)");
  if (o_.verify) {
    owned_ = nblocks_ / o_.connections;
    if (owned_ == 0) return nbd::make_error(EINVAL, "the export has fewer blocks than --connections");
    end_ = std::min(owned_, kVerifyBatch);
  }
  return nbd::ok();
}

void Conn::die(const char* what) {
  if (!dead_) print_first_error("connection %u: %s: %s", index_, what, h_.get_error().c_str());
  dead_ = true;
}

bool Conn::next_request(Slot& s, bool stopping) {
  if (o_.verify) return next_verify_request(s, stopping);
  if (stopping) return false;
  uint64_t r = splitmix64(rng_);
  s.offset = uint64_t((unsigned __int128)r * nblocks_ >> 64) * o_.bs;
  uint64_t pct = splitmix64(rng_) % 100;
  s.write = o_.rw == Rw::RandWrite || (o_.rw == Rw::RandRw && pct >= o_.rwmix);
  return true;
}

bool Conn::next_verify_request(Slot& s, bool stopping) {
  if (verify_done_) return false;
  if (!reading_ && stopping) end_ = next_;  // read back what was written, then stop
  if (next_ == end_) {
    if (in_flight_ > 0) return false;  // the round's last commands are still out
    if (!reading_) {
      reading_ = true;
      next_ = begin_;
    } else if (stopping || end_ == owned_) {
      verify_done_ = true;
      return false;
    } else {
      reading_ = false;
      begin_ = next_ = end_;
      end_ = std::min(owned_, end_ + kVerifyBatch);
    }
    if (next_ == end_) return next_verify_request(s, stopping);
  }
  s.offset = (next_ * o_.connections + index_) * o_.bs;
  s.write = !reading_;
  if (s.write) fill_pattern({s.wbuf, o_.bs}, o_.seed, s.offset);
  ++next_;
  return true;
}

void Conn::issue(uint32_t i) {
  Slot& s = slots_[i];
  s.error = 0;
  // 16 bytes of captures: std::function keeps them in place, without allocating.
  auto done = [this, i](int* err) {
    slots_[i].error = *err;
    completed_.push_back(i);  // capacity qd: never reallocates
    return 1;
  };
  auto cookie = s.write ? h_.aio_pwrite({s.wbuf, o_.bs}, s.offset, done)
                        : h_.aio_pread({s.rbuf, o_.bs}, s.offset, done);
  if (!cookie) {
    // Refused before reaching the wire (a dead handle, strict mode): it would be refused again.
    ++counters.errors;
    idle_.push_back(i);
    return die(s.write ? "pwrite" : "pread");
  }
  ++in_flight_;
}

void Conn::retire(uint32_t i) {
  Slot& s = slots_[i];
  --in_flight_;
  uint64_t round_index = o_.verify ? (s.offset / o_.bs - index_) / o_.connections - begin_ : 0;
  if (s.error) {
    ++counters.errors;
    print_first_error("%s at offset %llu: %s", s.write ? "write" : "read", (unsigned long long)s.offset,
                      std::strerror(s.error));
    if (o_.verify && s.write) write_failed_[round_index] = 1;
    return;
  }
  ++counters.ops;
  if (!o_.verify) return;
  if (s.write) {
    write_failed_[round_index] = 0;
    return;
  }
  if (write_failed_[round_index]) return;  // its error is counted already
  fill_pattern({s.wbuf, o_.bs}, o_.seed, s.offset);
  ++counters.verified;
  if (std::memcmp(s.rbuf, s.wbuf, o_.bs) != 0) {
    ++counters.mismatches;
    print_first_error("offset %llu: the data read back differs from what was written",
                      (unsigned long long)s.offset);
  }
}

void Conn::pump(bool stopping) {
  for (uint32_t i : completed_) {
    retire(i);
    idle_.push_back(i);
  }
  completed_.clear();
  while (!dead_ && !idle_.empty() && next_request(slots_[idle_.back()], stopping)) {
    uint32_t i = idle_.back();
    idle_.pop_back();
    issue(i);
  }
  if (dead_ && o_.verify) verify_done_ = true;
}

// NBD_CMD_DISC, and a short wait for the server to close; a handle with commands still out is
// just closed (by the destructor).
void Conn::disconnect() {
  if (dead_ || in_flight_ > 0 || !h_.aio_is_ready() || !h_.aio_disconnect()) return;
  auto deadline = Clock::now() + std::chrono::seconds(2);
  while (!h_.aio_is_closed() && !h_.aio_is_dead() && Clock::now() < deadline)
    if (!h_.poll(100)) break;
}

// Sends what each handle has queued, waits up to timeout_ms for any socket, and moves bytes
// (which runs the completion callbacks). Returns false when every handle is dead.
bool move_bytes(std::span<Conn*> conns, std::vector<pollfd>& pfds, int timeout_ms) {
  size_t live = 0;
  for (size_t k = 0; k < conns.size(); ++k) {
    Conn& c = *conns[k];
    pfds[k] = {-1, 0, 0};
    // A connection that stopped issuing still gets its replies, unless the handle died (which
    // failed its commands).
    if (c.dead() && (c.in_flight() == 0 || c.handle().aio_is_dead())) continue;
    auto& h = c.handle();
    if ((h.aio_get_direction() & nbd::client::kAioDirectionWrite) && !h.aio_notify_write()) {
      c.die("send");
      continue;
    }
    bool out = h.aio_get_direction() & nbd::client::kAioDirectionWrite;
    pfds[k] = {h.aio_get_fd(), short(POLLIN | (out ? POLLOUT : 0)), 0};
    ++live;
  }
  if (live == 0) return false;
  if (::poll(pfds.data(), pfds.size(), timeout_ms) <= 0) return true;  // timeout, or EINTR
  for (size_t k = 0; k < conns.size(); ++k) {
    auto& h = conns[k]->handle();
    short ev = pfds[k].revents;
    if ((ev & POLLOUT) && !h.aio_notify_write()) conns[k]->die("send");
    if ((ev & (POLLIN | POLLHUP | POLLERR)) && !h.aio_is_dead() && !h.aio_notify_read())
      conns[k]->die("receive");
  }
  return true;
}

// One thread's run: from t0 until `end` it keeps every slot busy; then it stops issuing and
// waits (at most kDrainTimeout) for the commands in flight. out gets the ops counted up to the
// moment it saw `end`, except with --verify, where every op and the whole time count.
void drive(const Options& o, std::span<Conn*> conns, Clock::time_point t0, Clock::time_point end,
           Counters& out) {
  std::vector<pollfd> pfds(conns.size());
  for (Conn* c : conns) c->pump(false);
  uint64_t allocs0 = t_allocations;
  bool stopped = false;
  Counters window;
  for (;;) {
    auto now = Clock::now();
    bool stopping = now >= end;
    if (stopping && !stopped) {
      stopped = true;
      window.allocations = t_allocations - allocs0;
      window.seconds = seconds_between(t0, now);
      for (Conn* c : conns) window.ops += c->counters.ops;
    }
    if (!std::any_of(conns.begin(), conns.end(), [](Conn* c) { return c->busy(); })) break;
    if (now > end + kDrainTimeout) {
      print_first_error("commands still in flight 10 s after the end of the run (counted as errors)");
      for (Conn* c : conns) out.errors += c->in_flight();
      break;
    }
    int timeout =
        stopping ? 100 : int(std::clamp<int64_t>((end - now) / std::chrono::milliseconds(1), 1, 100));
    bool live = move_bytes(conns, pfds, timeout);
    for (Conn* c : conns) c->pump(stopping);
    if (!live) break;
  }
  uint64_t all_ops = 0;
  for (Conn* c : conns) {
    c->disconnect();
    out.errors += c->counters.errors;
    out.mismatches += c->counters.mismatches;
    out.verified += c->counters.verified;
    all_ops += c->counters.ops;
  }
  bool whole_run = o.verify || !stopped;  // !stopped: every connection died before the end
  out.ops = whole_run ? all_ops : window.ops;
  out.seconds = whole_run ? seconds_between(t0, Clock::now()) : window.seconds;
  out.allocations = stopped ? window.allocations : t_allocations - allocs0;
}

void report(const Options& o, const Counters& total) {
  double iops = total.seconds > 0 ? double(total.ops) / total.seconds : 0;
  double mib_s = iops * double(o.bs) / (1 << 20);
  if (o.json) {
    std::printf("{\"iops\": %.1f, \"mib_s\": %.1f, \"ops\": %llu, \"errors\": %llu, \"seconds\": %.3f", iops,
                mib_s, (unsigned long long)total.ops, (unsigned long long)total.errors, total.seconds);
    if (o.verify)
      std::printf(", \"verified\": %llu, \"mismatches\": %llu", (unsigned long long)total.verified,
                  (unsigned long long)total.mismatches);
    std::printf(", \"allocations\": %llu}\n", (unsigned long long)total.allocations);
    return;
  }
  std::printf(
      "%s bs=%llu qd=%u connections=%u threads=%u: %.2f s, %llu ops, %.0f IOPS, %.1f MiB/s, "
      "%llu errors\n",
      o.verify ? "verify" : nbd::bench::rw_name(o.rw), (unsigned long long)o.bs, o.qd, o.connections,
      o.threads, total.seconds, (unsigned long long)total.ops, iops, mib_s, (unsigned long long)total.errors);
  if (o.verify)
    std::printf("verify: %llu blocks read back, %llu mismatches\n", (unsigned long long)total.verified,
                (unsigned long long)total.mismatches);
  std::printf("allocations while running: %llu\n", (unsigned long long)total.allocations);
}

}  // namespace

int main(int argc, char** argv) {
  Options o = nbd::bench::parse_options(argc, argv);
  std::vector<std::unique_ptr<Conn>> conns;
  for (unsigned i = 0; i < o.connections; ++i) {
    conns.push_back(std::make_unique<Conn>(o, i));
    if (auto st = conns.back()->connect(); !st) {
      std::fprintf(stderr, "bench_loadgen: %s: %s\n", o.uri.c_str(), st.error().message.c_str());
      return 1;
    }
  }
  // Thread t drives connections t, t + threads, t + 2 * threads, ...
  std::vector<std::vector<Conn*>> mine(o.threads);
  for (unsigned i = 0; i < o.connections; ++i) mine[i % o.threads].push_back(conns[i].get());
  std::vector<Counters> per_thread(o.threads);
  auto t0 = Clock::now();
  auto end = t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.runtime));
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < o.threads; ++t)
    threads.emplace_back([&, t] { drive(o, mine[t], t0, end, per_thread[t]); });
  for (auto& th : threads) th.join();

  Counters total;
  for (const Counters& c : per_thread) {
    total.ops += c.ops;
    total.errors += c.errors;
    total.mismatches += c.mismatches;
    total.verified += c.verified;
    total.allocations += c.allocations;
    total.seconds = std::max(total.seconds, c.seconds);
  }
  report(o, total);
  return total.errors || total.mismatches ? 1 : 0;
}
