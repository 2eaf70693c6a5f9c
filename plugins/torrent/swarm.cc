// SPDX-License-Identifier: BSD-3-Clause
#include "plugins/torrent/swarm.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <libtorrent/add_torrent_params.hpp>
#include <libtorrent/alert_types.hpp>
#include <libtorrent/magnet_uri.hpp>
#include <libtorrent/session.hpp>
#include <libtorrent/session_params.hpp>
#include <libtorrent/torrent_handle.hpp>
#include <libtorrent/torrent_info.hpp>
#include <libtorrent/torrent_status.hpp>
#include <libtorrent/version.hpp>
#include <mutex>
#include <thread>
#include <vector>

#include "disk/image.h"
#include "nbd/log.h"
#include "nbd/plugin.h"

namespace nbd::plugins::torrent_plugin {

using clock = std::chrono::steady_clock;

namespace {

// Pieces fetched ahead of sequential reads: from 4 pieces up to this many bytes' worth.
constexpr uint64_t kMaxAheadBytes = 64u << 20;
constexpr int kMinAheadPieces = 4;
// A read this close after the previous one's end counts as sequential (several clients, or
// nbdcopy's parallel requests, read neighbouring stretches out of order).
constexpr uint64_t kSequentialSlack = 16u << 20;

bool is_magnet(const std::string& s) { return s.rfind("magnet:", 0) == 0; }

}  // namespace

struct Swarm::Impl {
  Config c;
  lt::add_torrent_params atp;
  bool made_cache = false;

  std::unique_ptr<lt::session> ses;
  lt::torrent_handle h;
  std::thread alert_thread;
  std::atomic<bool> quit{false};

  std::mutex mu;
  std::condition_variable cv;
  // Everything below is guarded by mu.
  bool have_metadata = false;
  bool checked = false;                  // the cache directory has been checked against the piece hashes
  std::string error;                     // a torrent or disk error that fails every read
  std::vector<uint8_t> have;             // per piece of the torrent
  std::vector<uint8_t> asked;            // per piece: 0 nothing, 1 fetched ahead, 2 a read waits for it
  int first_piece = 0, last_piece = -1;  // the pieces the served file covers
  int missing = 0;                       // of those, how many are not here yet
  int waiters = 0;
  clock::time_point last_progress = clock::now();
  int64_t last_bytes = 0;
  uint64_t next_expected = 0;  // where a sequential read would start
  int ahead = kMinAheadPieces;

  // Known once the metadata is (read-only afterwards).
  int file_index = -1;
  int64_t file_offset = 0;  // in the torrent's byte space
  uint64_t file_size = 0;
  int piece_len = 0;
  std::string file_path;
  std::atomic<bool> complete{false};

  // Pieces that passed their hash but are not on disk yet (the alert thread's own).
  std::vector<int> unflushed;

  std::mutex fd_mu;         // taken only to open the file
  std::atomic<int> fd{-1};  // the served file in the cache, once opened

  Status choose_file(const lt::torrent_info& ti);
  void on_metadata();
  void refresh_pieces();
  void run_alerts();
  void handle(lt::alert* a);
  void piece_here(int i);
  void check_unflushed();
  template <class Done>
  Status wait_until(std::unique_lock<std::mutex>& lock, Done done, const std::function<Error()>& timed_out);
  Status wait_pieces(uint64_t offset, uint64_t count);
  Result<int> data_fd();
};

Swarm::Swarm(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Swarm::~Swarm() { stop(); }

std::string libtorrent_version() { return lt::version(); }

Result<std::unique_ptr<Swarm>> Swarm::load(Config c) {
  auto impl = std::make_unique<Impl>();
  impl->c = std::move(c);
  const std::string& t = impl->c.torrent;
  lt::error_code ec;
  if (is_magnet(t)) {
    impl->atp = lt::parse_magnet_uri(t, ec);
    if (ec)
      return make_error(EINVAL, "torrent=" + t + ": not a magnet link libtorrent can use: " + ec.message());
  } else {
    auto ti = std::make_shared<lt::torrent_info>(t, ec);
    if (ec) return make_error(EINVAL, t + ": not a .torrent file: " + ec.message());
    NBD_TRY(impl->choose_file(*ti));
    impl->atp.ti = std::move(ti);
  }
  return std::unique_ptr<Swarm>(new Swarm(std::move(impl)));
}

// file= names a file by its path in the torrent, with or without the torrent's own directory
// (transmission-show prints it without); without file= the largest file is served.
Status Swarm::Impl::choose_file(const lt::torrent_info& ti) {
  const lt::file_storage& fs = ti.files();
  int best = -1;
  std::string names;
  for (lt::file_index_t i : fs.file_range()) {
    if (fs.pad_file_at(i)) continue;
    std::string path = fs.file_path(i);
    if (c.file.empty()) {
      if (best < 0 || fs.file_size(i) > fs.file_size(lt::file_index_t(best))) best = int(i);
      continue;
    }
    std::string tail = path;
    if (auto slash = path.find('/'); slash != std::string::npos && fs.num_files() > 1)
      tail = path.substr(slash + 1);
    if (path == c.file || tail == c.file) best = int(i);
    if (names.size() < 400) names += (names.empty() ? "" : ", ") + tail;
  }
  if (best < 0 && c.file.empty()) return make_error(EINVAL, "the torrent has no files");
  if (best < 0)
    return make_error(ENOENT, "file=" + c.file + ": not in the torrent, whose files are: " + names);
  lt::file_index_t fi(best);
  file_index = best;
  file_offset = fs.file_offset(fi);
  file_size = uint64_t(fs.file_size(fi));
  piece_len = ti.piece_length();
  file_path = fs.file_path(fi);
  if (file_size == 0) {
    first_piece = 0;
    last_piece = -1;
  } else {
    first_piece = int(file_offset / piece_len);
    last_piece = int((file_offset + int64_t(file_size) - 1) / piece_len);
  }
  for (lt::file_index_t i : fs.file_range()) {
    if (fs.pad_file_at(i)) continue;
    log::debug("torrent: file %d: %s, %lld bytes%s", int(i), fs.file_path(i).c_str(),
               static_cast<long long>(fs.file_size(i)), int(i) == best ? " (served)" : "");
  }
  return ok();
}

Status Swarm::prepare_cache() {
  Impl& m = *impl_;
  std::error_code ec;
  if (m.c.cache.empty()) {
    const char* tmp = getenv("TMPDIR");
    std::string tmpl = std::string(tmp && *tmp ? tmp : "/var/tmp") + "/nbdkit-torrent-XXXXXX";
    if (!mkdtemp(tmpl.data())) return make_error(errno, "cannot make a cache directory from " + tmpl);
    m.c.cache = tmpl;
    m.made_cache = true;
  } else if (!std::filesystem::is_directory(m.c.cache, ec)) {
    std::filesystem::create_directories(m.c.cache, ec);
    if (ec) return make_error(ec.value(), "cache=" + m.c.cache + ": " + ec.message());
  }
  if (::access(m.c.cache.c_str(), W_OK | X_OK) != 0)
    return make_error(errno, "cache=" + m.c.cache + ": not a writable directory");
  return ok();
}

Status Swarm::start() {
  Impl& m = *impl_;
  lt::settings_pack p;
  // Like upstream: DHT, local peer discovery, UPnP and NAT-PMP on, so a magnet link finds peers.
  p.set_bool(lt::settings_pack::enable_dht, true);
  p.set_bool(lt::settings_pack::enable_lsd, true);
  p.set_bool(lt::settings_pack::enable_upnp, true);
  p.set_bool(lt::settings_pack::enable_natpmp, true);
  p.set_int(lt::settings_pack::stop_tracker_timeout, 2);
  // Connect to peers over TCP, not uTP first: uTP's pacing gives a fraction of what the link
  // carries (256 MiB over loopback: 48 s by uTP, 1.7 s by TCP), and TCP-only peers (aria2) are
  // reached at once instead of after uTP's attempt times out. Peers may still reach us by uTP.
  p.set_bool(lt::settings_pack::enable_outgoing_utp, false);
  lt::alert_category_t mask = lt::alert_category::error | lt::alert_category::status |
                              lt::alert_category::storage | lt::alert_category::piece_progress;
  if (m.c.log_alerts)
    mask |= lt::alert_category::peer | lt::alert_category::tracker | lt::alert_category::connect;
  p.set_int(lt::settings_pack::alert_mask, mask);
  if (!m.c.listen_interfaces.empty()) p.set_str(lt::settings_pack::listen_interfaces, m.c.listen_interfaces);
  if (!m.c.outgoing_interfaces.empty())
    p.set_str(lt::settings_pack::outgoing_interfaces, m.c.outgoing_interfaces);
  if (!m.c.user_agent.empty()) p.set_str(lt::settings_pack::user_agent, m.c.user_agent);
  if (m.c.connections_limit > 0) p.set_int(lt::settings_pack::connections_limit, m.c.connections_limit);
  p.set_int(lt::settings_pack::download_rate_limit, m.c.download_rate);
  p.set_int(lt::settings_pack::upload_rate_limit, m.c.upload_rate);
  try {
    m.ses = std::make_unique<lt::session>(lt::session_params(std::move(p)));
  } catch (const std::exception& e) {
    return make_error(EIO, std::string("cannot start the BitTorrent session: ") + e.what());
  }

  lt::add_torrent_params atp = m.atp;
  atp.save_path = m.c.cache;
  // Not queued by the session, never paused: it downloads and then seeds for as long as we run.
  atp.flags &= ~(lt::torrent_flags::auto_managed | lt::torrent_flags::paused);
  if (atp.ti) {
    std::vector<lt::download_priority_t> prio(size_t(atp.ti->num_files()), lt::dont_download);
    prio[size_t(m.file_index)] = lt::default_priority;
    atp.file_priorities = std::move(prio);
  }
  lt::error_code ec;
  m.h = m.ses->add_torrent(std::move(atp), ec);
  if (ec) return make_error(EIO, "cannot add the torrent: " + ec.message());
  if (m.atp.ti) m.on_metadata();
  m.alert_thread = std::thread([&m] { m.run_alerts(); });
  return ok();
}

// The metadata is here (from the .torrent, or from peers for a magnet link): size the tables.
void Swarm::Impl::on_metadata() {
  std::shared_ptr<const lt::torrent_info> ti = h.torrent_file();
  if (!ti) return;
  if (file_index < 0) {
    Status st = choose_file(*ti);
    std::lock_guard lock(mu);
    if (!st) {
      error = st.error().message;
      cv.notify_all();
      return;
    }
    // The other files get the lowest priority, not "don't download": libtorrent 2.0.8 can
    // count a torrent as finished while pieces of the served file are missing when pieces of
    // a file set to 0 finish after the change (they were in flight since the metadata came),
    // and then drops its peers while a read waits. So a magnet link's other files are
    // fetched too, after the served one. (A .torrent sets the priorities before anything
    // is fetched, and skips the other files.)
    std::vector<lt::download_priority_t> prio(size_t(ti->num_files()), lt::low_priority);
    prio[size_t(file_index)] = lt::top_priority;
    h.prioritize_files(prio);
  }
  std::lock_guard lock(mu);
  if (have_metadata) return;
  have.assign(size_t(ti->num_pieces()), 0);
  asked.assign(size_t(ti->num_pieces()), 0);
  missing = last_piece - first_piece + 1;
  have_metadata = true;
  cv.notify_all();
}

// What the cache already holds, after libtorrent checked it (or when the state changes).
void Swarm::Impl::refresh_pieces() {
  lt::torrent_status st = h.status(lt::torrent_handle::query_pieces);
  std::lock_guard lock(mu);
  if (!have_metadata) return;
  for (int i = 0; i < int(have.size()) && i < st.pieces.size(); ++i) {
    if (!have[size_t(i)] && st.pieces.get_bit(lt::piece_index_t(i))) {
      have[size_t(i)] = 1;
      if (i >= first_piece && i <= last_piece) --missing;
    }
  }
  if (missing == 0) complete = true;
  checked = true;
  cv.notify_all();
}

void Swarm::Impl::handle(lt::alert* a) {
  if (c.log_alerts) log::debug("torrent: %s: %s", a->what(), a->message().c_str());
  if (auto* pf = lt::alert_cast<lt::piece_finished_alert>(a)) {
    // The alert comes when the piece passes its hash check, which may be before all of it is
    // written to the file (libtorrent's alert_types.hpp says so): a read then would see what
    // the file held before. have_piece() is true once it is on disk.
    int i = int(pf->piece_index);
    if (h.have_piece(pf->piece_index)) {
      piece_here(i);
    } else {
      log::debug("torrent: piece %d passed its hash before it reached the disk", i);
      unflushed.push_back(i);
      std::lock_guard lock(mu);
      last_progress = clock::now();
    }
  } else if (lt::alert_cast<lt::metadata_received_alert>(a)) {
    log::debug("torrent: metadata received from peers");
    on_metadata();
  } else if (lt::alert_cast<lt::torrent_checked_alert>(a)) {
    refresh_pieces();
  } else if (auto* sc = lt::alert_cast<lt::state_changed_alert>(a)) {
    if (sc->state == lt::torrent_status::downloading || sc->state == lt::torrent_status::finished ||
        sc->state == lt::torrent_status::seeding)
      refresh_pieces();
  } else if (auto* te = lt::alert_cast<lt::torrent_error_alert>(a)) {
    std::lock_guard lock(mu);
    error = te->message();
    log::error("torrent: %s", error.c_str());
    cv.notify_all();
  } else if (auto* fe = lt::alert_cast<lt::file_error_alert>(a)) {
    std::lock_guard lock(mu);
    error = fe->message();
    log::error("torrent: %s", error.c_str());
    cv.notify_all();
  } else if (a->category() & lt::alert_category::error) {
    if (!c.log_alerts) log::debug("torrent: %s", a->message().c_str());
  }
}

// Piece i is on disk: reads of it may go ahead.
void Swarm::Impl::piece_here(int i) {
  std::lock_guard lock(mu);
  if (have_metadata && i >= 0 && i < int(have.size()) && !have[size_t(i)]) {
    have[size_t(i)] = 1;
    if (i >= first_piece && i <= last_piece && --missing == 0) {
      complete = true;
      log::debug("torrent: %s is complete", file_path.c_str());
    }
  }
  last_progress = clock::now();
  cv.notify_all();
}

// No alert says a piece reached the disk: ask again for those that passed before they did.
void Swarm::Impl::check_unflushed() {
  std::erase_if(unflushed, [&](int i) {
    if (!h.have_piece(lt::piece_index_t(i))) return false;
    piece_here(i);
    return true;
  });
}

void Swarm::Impl::run_alerts() {
  auto last_poll = clock::now();
  while (!quit.load()) {
    ses->wait_for_alert(std::chrono::milliseconds(unflushed.empty() ? 200 : 2));
    std::vector<lt::alert*> alerts;
    ses->pop_alerts(&alerts);
    for (lt::alert* a : alerts) handle(a);
    check_unflushed();
    // While a read waits, a slow piece still counts as progress as long as bytes arrive.
    auto now = clock::now();
    if (now - last_poll >= std::chrono::seconds(1)) {
      last_poll = now;
      bool waiting;
      {
        std::lock_guard lock(mu);
        waiting = waiters > 0;
      }
      if (waiting) {
        int64_t bytes = h.status(lt::status_flags_t{}).total_payload_download;
        std::lock_guard lock(mu);
        if (bytes != last_bytes) {
          last_bytes = bytes;
          last_progress = now;
        }
      }
    }
  }
}

// Waits (lock held on mu) until done() or a torrent error, waking at least every 100 ms to
// notice the server shutting down or the client going away; fails with timed_out() when
// nothing has arrived from any peer for timeout= (counted from the start of this wait).
template <class Done>
Status Swarm::Impl::wait_until(std::unique_lock<std::mutex>& lock, Done done,
                               const std::function<Error()>& timed_out) {
  const auto start = clock::now();
  ++waiters;
  Status result = ok();
  while (!done()) {
    if (!error.empty()) {
      result = make_error(EIO, error);
      break;
    }
    cv.wait_for(lock, std::chrono::milliseconds(100));
    if (done()) break;
    lock.unlock();
    Status alive = nanosleep(1);
    lock.lock();
    if (!alive) {
      result = alive;
      break;
    }
    if (clock::now() - std::max(start, last_progress) > std::chrono::seconds(c.timeout_s)) {
      result = timed_out();
      break;
    }
  }
  --waiters;
  return result;
}

Status Swarm::wait_ready() {
  Impl& m = *impl_;
  std::unique_lock lock(m.mu);
  NBD_TRY(m.wait_until(
      lock, [&] { return m.have_metadata && m.checked; },
      [&] {
        return make_error(ETIMEDOUT,
                          std::string(m.have_metadata ? "checking the cache" : "the torrent's metadata") +
                              ": nothing arrived from any peer in " + std::to_string(m.c.timeout_s) +
                              " s (timeout=)");
      }));
  if (!m.error.empty()) return make_error(EIO, m.error);
  return ok();
}

uint64_t Swarm::size() const { return impl_->file_size; }

Status Swarm::Impl::wait_pieces(uint64_t offset, uint64_t count) {
  if (count == 0 || complete.load(std::memory_order_acquire)) return ok();
  int first = int((file_offset + int64_t(offset)) / piece_len);
  int last = int((file_offset + int64_t(offset + count) - 1) / piece_len);
  std::unique_lock lock(mu);
  if (!error.empty()) return make_error(EIO, error);
  // Sequential reads widen the window fetched ahead; a jump elsewhere narrows it again.
  uint64_t end = offset + count;
  bool sequential = offset <= next_expected + kSequentialSlack && offset + kSequentialSlack >= next_expected;
  int max_ahead = std::max<int>(kMinAheadPieces, int(kMaxAheadBytes / uint64_t(piece_len)));
  ahead = sequential ? std::min(max_ahead, ahead * 2) : kMinAheadPieces;
  if (end > next_expected || !sequential) next_expected = end;

  for (int p = first; p <= last; ++p) {
    if (!have[size_t(p)] && asked[size_t(p)] < 2) {
      // Wanted whatever the file priorities say: a piece shared with a file that is not
      // served could otherwise count as unwanted, the torrent as finished, and the read wait.
      h.piece_priority(lt::piece_index_t(p), lt::top_priority);
      h.set_piece_deadline(lt::piece_index_t(p), 0);
      asked[size_t(p)] = 2;
    }
  }
  for (int p = last + 1, k = 1; p <= last_piece && k <= ahead; ++p, ++k) {
    if (!have[size_t(p)] && asked[size_t(p)] == 0) {
      h.set_piece_deadline(lt::piece_index_t(p), 200 * k);
      asked[size_t(p)] = 1;
    }
  }

  for (int p = first; p <= last; ++p) {
    NBD_TRY(wait_until(
        lock, [&] { return have[size_t(p)] != 0; },
        [&] {
          return make_error(EIO, "piece " + std::to_string(p) + ": nothing arrived from any peer in " +
                                     std::to_string(c.timeout_s) + " s (timeout=)");
        }));
  }
  return ok();
}

// The file exists once libtorrent has written a piece of it: opened by the first read, then
// shared by every read without a lock.
Result<int> Swarm::Impl::data_fd() {
  if (int f = fd.load(std::memory_order_acquire); f >= 0) return f;
  std::lock_guard lock(fd_mu);
  if (int f = fd.load(std::memory_order_relaxed); f >= 0) return f;
  std::string path = c.cache + "/" + file_path;
  int f = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (f < 0) return make_error(errno, "cannot open the downloaded " + path);
  fd.store(f, std::memory_order_release);
  return f;
}

Status Swarm::pread(std::span<std::byte> buf, uint64_t offset) {
  Impl& m = *impl_;
  NBD_TRY(m.wait_pieces(offset, buf.size()));
  NBD_TRY_ASSIGN(int fd, m.data_fd());
  if (Status st = vdisk::read_fully(fd, buf, offset); !st)
    return make_error(st.error().errnum, m.file_path + " in the cache: " + st.error().message);
  return ok();
}

Status Swarm::cache(uint64_t count, uint64_t offset) { return impl_->wait_pieces(offset, count); }

void Swarm::stop() {
  Impl& m = *impl_;
  m.quit = true;
  if (m.alert_thread.joinable()) m.alert_thread.join();
  // The session's destructor stops its threads before it frees anything (trackers get
  // "stopped", bounded by stop_tracker_timeout).
  m.ses.reset();
  if (int f = m.fd.exchange(-1); f >= 0) ::close(f);
  if (m.made_cache) {
    std::error_code ec;
    std::filesystem::remove_all(m.c.cache, ec);
    m.made_cache = false;
  }
}

}  // namespace nbd::plugins::torrent_plugin
