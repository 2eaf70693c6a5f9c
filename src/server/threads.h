// SPDX-License-Identifier: BSD-3-Clause
// The threads the server runs requests on (one per connection, the -t workers). A plugin may
// start them itself: a Go plugin hands them to its runtime, so the Go calls they make find a
// thread the runtime already knows (a foreign thread pays for being attached on every call).
#pragma once

#include <functional>
#include <memory>
#include <thread>

namespace nbd::server {

// A thread that runs one function. Without the plugin's spawner (cabi::thread_spawner()) it
// is a std::thread; with one, join() waits for the function to return (the thread then ends
// in the plugin's runtime). Movable; destroying a thread not joined detaches it.
class ServerThread {
 public:
  explicit ServerThread(std::function<void()> fn);
  ServerThread(ServerThread&&) noexcept = default;
  ServerThread& operator=(ServerThread&&) = delete;
  ~ServerThread() { detach(); }
  void join();
  void detach();

 private:
  struct State;
  std::thread thread_;            // started here
  std::shared_ptr<State> state_;  // started by the spawner
};

}  // namespace nbd::server
