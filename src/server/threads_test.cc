// SPDX-License-Identifier: BSD-3-Clause
// ServerThread with and without a plugin's thread spawner (the Go plugins' nbdkitpp_spawn_thread).
#include "server/threads.h"

#include <gtest/gtest.h>
#include <pthread.h>

#include <atomic>
#include <chrono>
#include <vector>

#include "server/cabi/cabi.h"

namespace nbd::server {
namespace {

std::vector<pthread_t> g_pthreads;

struct Start {
  void (*fn)(void*);
  void* arg;
};

int counting_spawner(void (*fn)(void*), void* arg) {
  pthread_t t;
  auto* s = new Start{fn, arg};
  if (pthread_create(
          &t, nullptr,
          [](void* p) -> void* {
            Start st = *static_cast<Start*>(p);
            delete static_cast<Start*>(p);
            st.fn(st.arg);
            return nullptr;
          },
          s) != 0) {
    delete s;
    return -1;
  }
  g_pthreads.push_back(t);
  return 0;
}

int refusing_spawner(void (*)(void*), void*) { return -1; }

struct SpawnerScope {
  explicit SpawnerScope(cabi::ThreadSpawner s) { cabi::set_thread_spawner_for_test(s); }
  ~SpawnerScope() {
    cabi::set_thread_spawner_for_test(nullptr);
    for (pthread_t t : g_pthreads) pthread_join(t, nullptr);
    g_pthreads.clear();
  }
};

TEST(ServerThread, RunsOnTheSpawnersThreadAndJoinWaitsForTheFunction) {
  SpawnerScope scope(counting_spawner);
  std::atomic<bool> ran{false};
  pthread_t self = pthread_self(), ran_on = self;
  ServerThread t([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    ran_on = pthread_self();
    ran = true;
  });
  t.join();
  EXPECT_TRUE(ran.load());           // join did not return before the function did
  ASSERT_EQ(g_pthreads.size(), 1u);  // spawned once, by the spawner
  EXPECT_TRUE(pthread_equal(ran_on, g_pthreads[0]));
}

TEST(ServerThread, DetachedThreadKeepsWhatItCaptured) {
  SpawnerScope scope(counting_spawner);
  std::atomic<int> value{0};
  {
    ServerThread([&value, v = std::vector<int>(1000, 7)] { value = v[999]; }).detach();
  }
  while (value.load() == 0) std::this_thread::yield();
  EXPECT_EQ(value.load(), 7);
}

TEST(ServerThread, FallsBackToItsOwnThreadWhenTheSpawnerRefuses) {
  SpawnerScope scope(refusing_spawner);
  std::atomic<int> runs{0};
  ServerThread t([&] { ++runs; });
  t.join();
  EXPECT_EQ(runs.load(), 1);
}

TEST(ServerThread, WithoutSpawnerIsAStdThread) {
  std::atomic<int> runs{0};
  std::vector<ServerThread> ts;
  for (int i = 0; i < 4; ++i) ts.emplace_back([&] { ++runs; });
  for (auto& t : ts) t.join();
  EXPECT_EQ(runs.load(), 4);
}

}  // namespace
}  // namespace nbd::server
