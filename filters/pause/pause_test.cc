// SPDX-License-Identifier: BSD-3-Clause
// pause filter against the in-memory fake disk, driven through its real control socket:
// requests are held while paused and released with their bytes on resume, and a pause is
// acknowledged only after the requests already in flight have finished.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

#include "fixtures/fake_disk.h"

namespace nbd::filters {
extern const FilterInfo pause_filter_info;
namespace {

using namespace nbd::testing;  // FakeDisk, configure, open_over, open_layer, bytes_of
using std::chrono::milliseconds;

std::string socket_path(const char* name) {
  std::string p = ::testing::TempDir() + "pause_" + std::to_string(::getpid()) + "_" + name;
  ::unlink(p.c_str());
  return p;
}

// A client of the control socket.
class Control {
 public:
  explicit Control(const std::string& path) : fd_(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::memcpy(a.sun_path, path.data(), path.size());
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~Control() { ::close(fd_); }
  bool connected() const { return connected_; }
  void send(std::string_view s) { ASSERT_EQ(::write(fd_, s.data(), s.size()), ssize_t(s.size())); }
  // The replies that arrive within timeout, up to n bytes.
  std::string receive(size_t n, milliseconds timeout) {
    std::string out;
    auto end = std::chrono::steady_clock::now() + timeout;
    while (out.size() < n) {
      auto left = std::chrono::duration_cast<milliseconds>(end - std::chrono::steady_clock::now()).count();
      pollfd p{fd_, POLLIN, 0};
      if (left <= 0 || ::poll(&p, 1, int(left)) <= 0) break;
      char c;
      if (::read(fd_, &c, 1) != 1) break;
      out += c;
    }
    return out;
  }

 private:
  int fd_;
  bool connected_ = false;
};

struct Running {
  std::unique_ptr<Filter> f = pause_filter_info.factory();
  std::string path;
  explicit Running(const char* name) : path(socket_path(name)) {
    EXPECT_TRUE(configure(*f, {{"pause-control", path}}));
    EXPECT_TRUE(f->get_ready(ThreadModel::Parallel));
    EXPECT_TRUE(f->after_fork());
  }
  ~Running() { f->unload(); }
};

TEST(PauseFilter, RequestsAreHeldUntilResume) {
  FakeDisk disk(100);
  disk.bytes()[10] = std::byte{'h'};
  Running r("held");
  auto c = open_over(*r.f, disk);
  ASSERT_TRUE(c);
  Control ctl(r.path);
  ASSERT_TRUE(ctl.connected());
  ctl.send("p");
  ASSERT_EQ(ctl.receive(1, milliseconds(10000)), "P");
  std::atomic<bool> done{false};
  std::vector<std::byte> buf(1);
  auto reader = std::async(std::launch::async, [&] {
    auto s = (*c)->pread(buf, 10, 0);
    done = true;
    return bool(s);
  });
  // Held: no sign of it below the filter (a check that can only pass late, never flake).
  std::this_thread::sleep_for(milliseconds(300));
  EXPECT_FALSE(done);
  EXPECT_TRUE(disk.calls().empty());
  ctl.send("r");
  ASSERT_EQ(ctl.receive(1, milliseconds(10000)), "R");
  ASSERT_EQ(reader.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_TRUE(reader.get());
  EXPECT_EQ(buf[0], std::byte{'h'});
  EXPECT_EQ(disk.calls(), (std::vector<FakeCall>{{"pread", 10, 1, 0}}));
}

// A layer below whose (one) read says it has arrived, then waits until the test lets it go.
class Latched final : public FilterConnection {
 public:
  Latched(std::unique_ptr<Connection> next, std::promise<void>& arrived, std::shared_future<void> go)
      : FilterConnection(std::move(next)), arrived_(arrived), go_(std::move(go)) {}
  Status pread(std::span<std::byte> buf, uint64_t offset, uint32_t flags) override {
    arrived_.set_value();
    go_.wait();
    return next().pread(buf, offset, flags);
  }

 private:
  std::promise<void>& arrived_;
  std::shared_future<void> go_;
};

TEST(PauseFilter, PauseWaitsForRequestsInFlight) {
  FakeDisk disk(100);
  Running r("inflight");
  std::promise<void> arrived, go;
  std::shared_future<void> released = go.get_future().share();
  NextOpen below = [&](const OpenParams& p) -> Result<std::unique_ptr<Connection>> {
    NBD_TRY_ASSIGN(auto l, open_layer(disk, p));
    return std::unique_ptr<Connection>(std::make_unique<Latched>(std::move(l), arrived, released));
  };
  auto c = r.f->open({}, below);
  ASSERT_TRUE(c);
  std::vector<std::byte> buf(4);
  auto reader = std::async(std::launch::async, [&] { return bool((*c)->pread(buf, 0, 0)); });
  ASSERT_EQ(arrived.get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready);
  Control ctl(r.path);
  ctl.send("p");
  EXPECT_EQ(ctl.receive(1, milliseconds(300)), "") << "acknowledged while a read was in flight";
  go.set_value();
  EXPECT_EQ(ctl.receive(1, milliseconds(10000)), "P");
  ASSERT_EQ(reader.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_TRUE(reader.get());
  ctl.send("r");
  EXPECT_EQ(ctl.receive(1, milliseconds(10000)), "R");
}

TEST(PauseFilter, CommandsAndReplies) {
  Running r("commands");
  Control ctl(r.path);
  ASSERT_TRUE(ctl.connected());
  ctl.send("r\nx\r");
  EXPECT_EQ(ctl.receive(3, milliseconds(10000)), "RXX") << "newlines are skipped, others answer X";
  ctl.send("pPpr");
  EXPECT_EQ(ctl.receive(4, milliseconds(10000)), "PXPR");
  EXPECT_EQ(ctl.receive(1, milliseconds(100)), "");
}

TEST(PauseFilter, ReleasesHeldRequestsAndRemovesTheSocketOnUnload) {
  FakeDisk disk(100);
  auto r = std::make_unique<Running>("unload");
  std::string path = r->path;
  auto c = open_over(*r->f, disk);
  {
    Control ctl(path);
    ctl.send("p");
    ASSERT_EQ(ctl.receive(1, milliseconds(10000)), "P");
  }
  std::vector<std::byte> buf(1);
  auto reader = std::async(std::launch::async, [&] { return bool((*c)->pread(buf, 0, 0)); });
  std::this_thread::sleep_for(milliseconds(100));
  r->f->unload();
  ASSERT_EQ(reader.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_TRUE(reader.get());
  EXPECT_NE(::access(path.c_str(), F_OK), 0);
  c->reset();
}

TEST(PauseFilter, RejectsMissingOrBadSocket) {
  auto f = pause_filter_info.factory();
  auto s = f->config_complete();
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("pause-control"), std::string::npos);
  EXPECT_FALSE(f->config("pause-control", std::string(200, 'x')));
  EXPECT_FALSE(f->config("pause-control", ""));
  EXPECT_FALSE(*f->config("pause", "x"));
  auto g = pause_filter_info.factory();
  ASSERT_TRUE(configure(*g, {{"pause-control", "/nonexistent-dir/sock"}}));
  EXPECT_FALSE(g->get_ready(ThreadModel::Parallel));
}

}  // namespace
}  // namespace nbd::filters
