// SPDX-License-Identifier: BSD-3-Clause
// ServerThread: a thread started by std::thread or by the plugin's spawner, joined through a
// done flag so both kinds join alike.
#include "server/threads.h"

#include <atomic>
#include <condition_variable>
#include <mutex>

#include "server/cabi/cabi.h"

namespace nbd::server {

namespace {
// The spawner hands the State over through code no sanitizer sees (the Go runtime's
// scheduler): a release before the hand-off and an acquire after it say what it orders.
std::atomic<uint64_t> g_handoffs{0};
}  // namespace

struct ServerThread::State {
  std::function<void()> fn;
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;

  static void run(void* p) {
    (void)g_handoffs.load(std::memory_order_acquire);
    // The thread's own reference: the State outlives a detached or destroyed ServerThread.
    std::shared_ptr<State> self(std::move(*static_cast<std::shared_ptr<State>*>(p)));
    delete static_cast<std::shared_ptr<State>*>(p);
    self->fn();
    self->fn = nullptr;  // what it captured goes before join() returns
    {
      std::lock_guard lock(self->mu);
      self->done = true;
    }
    self->cv.notify_all();
  }
};

ServerThread::ServerThread(std::function<void()> fn) {
  if (cabi::ThreadSpawner spawn = cabi::thread_spawner()) {
    state_ = std::make_shared<State>();
    state_->fn = std::move(fn);
    auto* ref = new std::shared_ptr<State>(state_);
    g_handoffs.fetch_add(1, std::memory_order_release);
    if (spawn(&State::run, ref) == 0) return;
    fn = std::move(state_->fn);
    delete ref;
    state_.reset();
  }
  thread_ = std::thread(std::move(fn));
}

void ServerThread::detach() {
  if (thread_.joinable()) thread_.detach();
  state_.reset();
}

void ServerThread::join() {
  if (thread_.joinable()) thread_.join();
  if (!state_) return;
  std::unique_lock lock(state_->mu);
  state_->cv.wait(lock, [&] { return state_->done; });
  lock.unlock();
  state_.reset();
}

}  // namespace nbd::server
