// SPDX-License-Identifier: BSD-3-Clause
// exitwhen filter: each event refuses new clients once it has happened (sticky); the shutdown
// request (SIGTERM to ourselves, as shutdown_server sends) waits for the last client, and the
// idle poll thread sends it when nobody is connected.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <fstream>
#include <thread>

#include "fixtures/fake_disk.h"

namespace nbd::filters {
extern const FilterInfo exitwhen_filter_info;
namespace {

using namespace nbd::testing;

std::atomic<int> g_terms{0};
void on_term(int) { g_terms.fetch_add(1); }

class ExitwhenFilterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    struct sigaction sa {};
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, &old_);
    g_terms = 0;
    char tmpl[] = "/tmp/exitwhen_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    sigaction(SIGTERM, &old_, nullptr);
    std::remove((dir_ + "/stop").c_str());
    ::rmdir(dir_.c_str());
  }
  std::unique_ptr<Filter> make(const std::vector<std::pair<std::string, std::string>>& kv) {
    auto f = exitwhen_filter_info.factory();
    Status s = configure(*f, kv);
    EXPECT_TRUE(s) << (s ? "" : s.error().message);
    return f;
  }
  bool admits(Filter& f) { return bool(f.preconnect(Peer{}, false)); }
  void touch(const std::string& p) { std::ofstream(p).put('x'); }
  struct sigaction old_ {};
  std::string dir_;
};

TEST_F(ExitwhenFilterTest, FileCreatedIsStickyAndWaitsForTheLastClient) {
  std::string stop = dir_ + "/stop";
  auto f = make({{"exit-when-file-created", stop}});
  FakeDisk disk(16);
  ASSERT_TRUE(admits(*f));
  auto c = open_over(*f, disk);
  ASSERT_TRUE(c);
  touch(stop);
  auto r = f->preconnect(Peer{}, false);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("exit event"), std::string::npos);
  std::remove(stop.c_str());
  EXPECT_FALSE(admits(*f));  // sticky
  std::vector<std::byte> buf(4);
  EXPECT_TRUE((*c)->pread(buf, 0, 0));  // the connected client keeps working
  EXPECT_EQ(g_terms.load(), 0);
  c->reset();
  EXPECT_EQ(g_terms.load(), 1);
}

TEST_F(ExitwhenFilterTest, FileDeleted) {
  std::string stop = dir_ + "/stop";
  touch(stop);
  auto f = make({{"exit-when-file-deleted", stop}});
  EXPECT_TRUE(admits(*f));
  std::remove(stop.c_str());
  EXPECT_FALSE(admits(*f));
}

TEST_F(ExitwhenFilterTest, PipeClosed) {
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  auto f = make({{"exit-when-pipe-closed", std::to_string(p[0])}});
  EXPECT_TRUE(admits(*f));
  ::close(p[1]);
  EXPECT_FALSE(admits(*f));
  ::close(p[0]);
}

TEST_F(ExitwhenFilterTest, ProcessExits) {
  pid_t child = fork();
  if (child == 0) {
    pause();
    _exit(0);
  }
  auto f = make({{"exit-when-process-exits", std::to_string(child)}});
  EXPECT_TRUE(admits(*f));
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  EXPECT_FALSE(admits(*f));
}

TEST_F(ExitwhenFilterTest, ScriptExit88TriggersOthersDoNot) {
  std::string stop = dir_ + "/stop";
  auto f = make({{"exit-when-script", "test -e " + stop + " && exit 88; exit 3"}});
  EXPECT_TRUE(admits(*f));  // status 3: logged, not triggered
  touch(stop);
  EXPECT_FALSE(admits(*f));
}

TEST_F(ExitwhenFilterTest, IdlePollExitsWithNoClient) {
  std::string stop = dir_ + "/stop";
  auto f = make({{"exit-when-file-created", stop}, {"exit-when-poll", "1"}});
  ASSERT_TRUE(f->after_fork());
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(g_terms.load(), 0);
  touch(stop);
  for (int i = 0; i < 200 && g_terms.load() == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(g_terms.load(), 1);
  f->unload();
}

TEST_F(ExitwhenFilterTest, NoEventsDoesNothing) {
  auto f = make({});
  EXPECT_TRUE(admits(*f));
  EXPECT_FALSE(*f->config("size", "1"));
}

TEST_F(ExitwhenFilterTest, RejectsBadValues) {
  for (auto [k, v] : std::vector<std::pair<std::string, std::string>>{{"exit-when-pipe-closed", "x"},
                                                                      {"exit-when-pipe-closed", "999"},
                                                                      {"exit-when-process-exits", "-5"},
                                                                      {"exit-when-process-exits", "0"},
                                                                      {"exit-when-poll", "0"},
                                                                      {"exit-when-poll", "1.5"},
                                                                      {"exit-when-file-created", ""}}) {
    auto f = exitwhen_filter_info.factory();
    auto r = f->config(k, v);
    ASSERT_FALSE(r) << k << "=" << v;
    EXPECT_EQ(r.error().message.rfind(k + "=", 0), 0u) << r.error().message;
  }
}

}  // namespace
}  // namespace nbd::filters
