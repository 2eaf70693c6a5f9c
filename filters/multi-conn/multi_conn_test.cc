// SPDX-License-Identifier: BSD-3-Clause
// multi-conn filter over the fake disk, several connections at once: what each mode
// advertises, and which connection's flushes reach the layer below (a counting layer per
// connection), checked against what Debian's nbdkit 1.32 sends to its plugin.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "fixtures/fake_disk.h"

namespace nbd::filters {
extern const FilterInfo multi_conn_filter_info;
namespace {

using namespace nbd::testing;

// Everything the connections sent below, as "1Write;2Read;1Flush;" (connection ids count from
// 1 in open order, as the log filter's connection= does).
struct CallLog {
  std::mutex mu;
  std::string text;
  void add(int id, const char* op) {
    std::lock_guard l(mu);
    text += std::to_string(id) + op + ";";
  }
};

// Sits between the filter and the disk: logs each call, and checks that no two calls run on
// one connection at once (what serialize_requests promises the layers below).
class Counting final : public FilterConnection {
 public:
  Counting(std::unique_ptr<Connection> n, CallLog& log, int id)
      : FilterConnection(std::move(n)), log_(log), id_(id) {}
  std::atomic<int> overlaps{0};

  Status pread(std::span<std::byte> b, uint64_t o, uint32_t f) override {
    return call("Read", [&] { return next().pread(b, o, f); });
  }
  Status pwrite(std::span<const std::byte> b, uint64_t o, uint32_t f) override {
    return call(f & kFua ? "WriteFua" : "Write", [&] { return next().pwrite(b, o, f); });
  }
  Status zero(uint64_t c, uint64_t o, uint32_t f) override {
    return call("Zero", [&] { return next().zero(c, o, f); });
  }
  Status trim(uint64_t c, uint64_t o, uint32_t f) override {
    return call("Trim", [&] { return next().trim(c, o, f); });
  }
  Status flush(uint32_t f) override {
    return call("Flush", [&] { return next().flush(f); });
  }

  static std::atomic<int> total_overlaps;
  static std::atomic<bool> slow;
  static std::mutex disk_mu;

 private:
  template <class F>
  Status call(const char* op, F&& f) {
    if (busy_.exchange(true)) ++total_overlaps;
    log_.add(id_, op);
    if (slow) std::this_thread::sleep_for(std::chrono::microseconds(50));  // widens the window for overlaps
    Status s;
    {
      std::lock_guard l(disk_mu);  // the fake disk's bytes are not thread-safe
      s = f();
    }
    busy_.store(false);
    return s;
  }
  CallLog& log_;
  int id_;
  std::atomic<bool> busy_{false};
};
std::atomic<int> Counting::total_overlaps{0};
std::atomic<bool> Counting::slow{false};
std::mutex Counting::disk_mu;

FakeCaps caps(bool multi_conn, bool flush = true, FuaMode fua = FuaMode::Native) {
  FakeCaps c;
  c.multi_conn = multi_conn;
  c.flush = flush;
  c.fua = fua;
  return c;
}

struct Harness {
  explicit Harness(FakeCaps c = {}) : disk(1 << 16, std::move(c)) {}
  Status configure(const std::vector<std::pair<std::string, std::string>>& kv,
                   ThreadModel model = ThreadModel::Parallel) {
    NBD_TRY(testing::configure(*filter, kv));
    return filter->get_ready(model);
  }
  Result<Connection*> open(std::string export_name = "", bool readonly = false) {
    NextOpen below = [this](const OpenParams& q) -> Result<std::unique_ptr<Connection>> {
      NBD_TRY_ASSIGN(auto d, open_layer(disk, q));
      auto c = std::make_unique<Counting>(std::move(d), log, ++ids);
      NBD_TRY_ASSIGN(auto l, server::Layer::open(std::move(c), q.readonly));
      return std::unique_ptr<Connection>(std::move(l));
    };
    filter->bind_below_for_core(below);
    OpenParams p{.readonly = readonly, .export_name = std::move(export_name)};
    NBD_TRY_ASSIGN(auto c, filter->open(p, below));
    NBD_TRY_ASSIGN(auto l, server::Layer::open(std::move(c), readonly));
    conns.push_back(std::move(l));
    return conns.back().get();
  }
  void close(Connection* c) {
    for (auto& p : conns)
      if (p.get() == c) {
        (void)p->finalize();
        p.reset();
      }
  }
  ~Harness() {
    for (auto& c : conns)
      if (c) (void)c->finalize();
    conns.clear();  // connections close before their filter, as in the server
  }

  FakeDisk disk;
  std::unique_ptr<Filter> filter = multi_conn_filter_info.factory();
  CallLog log;
  int ids = 0;
  std::vector<std::unique_ptr<Connection>> conns;
};

// Runs ops like "1w 2r 1f" (connection digit, then w write, W FUA write, r read, z zero,
// t trim, f flush), opening the connections in order of first appearance, and returns the log.
std::string run(Harness& h, std::string_view ops) {
  std::map<char, Connection*> c;
  std::vector<std::string_view> words;
  for (size_t i = 0; i < ops.size();) {
    size_t j = ops.find(' ', i);
    if (j == std::string_view::npos) j = ops.size();
    words.push_back(ops.substr(i, j - i));
    i = j + 1;
  }
  for (auto w : words)
    if (!c.count(w[0])) {
      auto r = h.open();
      if (!r) return "open failed: " + r.error().message;
      c[w[0]] = *r;
    }
  std::vector<std::byte> buf(512, std::byte{'x'});
  for (auto w : words) {
    Connection& k = *c[w[0]];
    Status s;
    switch (w[1]) {
      case 'w': s = k.pwrite(buf, 0, 0); break;
      case 'W': s = k.pwrite(buf, 0, kFua); break;
      case 'r': s = k.pread(buf, 0, 0); break;
      case 'z': s = k.zero(512, 0, 0); break;
      case 't': s = k.trim(512, 0, 0); break;
      case 'f': s = k.flush(0); break;
    }
    if (!s) return std::string(w) + " failed: " + s.error().message;
  }
  return h.log.text;
}

struct Case {
  const char* mode;
  const char* track;
  const char* ops;
  const char* want;  // what Debian's nbdkit sent to its plugin (seen by its log filter)
};

// Over a plugin with multi-conn, flush and native FUA (memory).
const Case kWithMultiConn[] = {
    {"emulate", "connection", "1w 1f", "1Write;1Flush;"},
    {"emulate", "connection", "1f", ""},
    {"emulate", "connection", "1w 2f", "1Write;1Flush;"},
    {"emulate", "connection", "1w 2r 1f", "1Write;2Read;1Flush;2Flush;"},
    {"emulate", "connection", "2r 1w 1f 2f", "1Read;2Write;1Flush;2Flush;"},
    {"emulate", "connection", "1w 1f 2f", "1Write;1Flush;"},
    {"emulate", "connection", "1W", "1Write;1Flush;"},
    {"emulate", "connection", "1z 2t 3r 2f 1f", "1Zero;2Trim;3Read;1Flush;2Flush;3Flush;"},
    {"emulate", "connection", "1r 2f", "1Read;"},
    {"emulate", "fast", "1w 2f", "1Write;1Flush;2Flush;"},
    {"emulate", "fast", "1w 1f 2f", "1Write;1Flush;2Flush;"},
    {"emulate", "fast", "1r 1f", "1Read;"},
    {"emulate", "off", "1f", "1Flush;"},
    {"emulate", "off", "2r 1w 1f 2f", "1Read;2Write;1Flush;2Flush;1Flush;2Flush;"},
    {"emulate", "off", "1r 2f", "1Read;1Flush;2Flush;"},
    {"plugin", "connection", "1w 2f", "1Write;2Flush;"},
    {"plugin", "connection", "1w 2w 1f 2f", "1Write;2Write;1Flush;"},
    {"plugin", "connection", "1W", "1WriteFua;"},
    {"plugin", "connection", "1f", ""},
    {"plugin", "fast", "1w 1f 2f", "1Write;1Flush;"},
    {"plugin", "off", "1w 1f 2f", "1Write;1Flush;2Flush;"},
    {"plugin", "off", "1r 1f", "1Read;1Flush;"},
    {"disable", "connection", "1z 2t 3r 2f 1f", "1Zero;2Trim;3Read;2Flush;"},
    {"disable", "off", "1z 2t 3r 2f 1f", "1Zero;2Trim;3Read;2Flush;1Flush;"},
    {"unsafe", "fast", "1w 2w 1f 2f", "1Write;2Write;1Flush;"},
    {"unsafe", "off", "1w 2w 1f 2f", "1Write;2Write;1Flush;2Flush;"},
    {"auto", "connection", "1w 2r 1f", "1Write;2Read;1Flush;"},  // auto = plugin here
};

// Over a plugin with flush but neither multi-conn nor FUA (a sh script).
const Case kWithoutMultiConn[] = {
    {"plugin", "connection", "1w 2f", "1Write;2Flush;"},
    {"plugin", "connection", "1w 1f 2f", "1Write;1Flush;2Flush;"},
    {"plugin", "connection", "2r 1w 1f 2f", "1Read;2Write;2Flush;1Flush;"},
    {"plugin", "connection", "1r 2f", "1Read;"},
    {"plugin", "fast", "1w 2w 3r 1f 2f 3f", "1Write;2Write;3Read;1Flush;"},
    {"disable", "connection", "1w 2w 3r 1f 2f 3f", "1Write;2Write;3Read;1Flush;2Flush;3Flush;"},
    {"unsafe", "fast", "2r 1w 1f 2f", "1Read;2Write;2Flush;"},
    {"emulate", "connection", "1w 2f", "1Write;1Flush;"},
    {"emulate", "connection", "1r 2w 2f 1f", "1Read;2Write;1Flush;2Flush;"},
    {"emulate", "fast", "1w 2f", "1Write;1Flush;2Flush;"},
    {"auto", "connection", "1w 2r 1f", "1Write;2Read;1Flush;2Flush;"},  // auto = emulate here
};

void check(const Case& t, const FakeCaps& caps) {
  Harness h(caps);
  ASSERT_TRUE(h.configure({{"multi-conn-mode", t.mode}, {"multi-conn-track-dirty", t.track}}));
  EXPECT_EQ(run(h, t.ops), t.want) << t.mode << " " << t.track << " '" << t.ops << "'";
}

TEST(MultiConnFilter, FlushesReachingThePluginAsUpstreamWithMultiConn) {
  for (const auto& t : kWithMultiConn) check(t, FakeCaps{});
}

TEST(MultiConnFilter, FlushesReachingThePluginAsUpstreamWithoutMultiConn) {
  for (const auto& t : kWithoutMultiConn) check(t, caps(false, true, FuaMode::None));
}

TEST(MultiConnFilter, AdvertisesLikeUpstream) {
  const struct {
    const char* mode;
    bool plugin_mc, want;
  } table[] = {{"auto", true, true},     {"auto", false, true},   {"emulate", true, true},
               {"emulate", false, true}, {"plugin", true, true},  {"plugin", false, false},
               {"unsafe", true, true},   {"unsafe", false, true}, {"disable", true, false},
               {"disable", false, false}};
  for (const auto& t : table) {
    Harness h(caps(t.plugin_mc));
    ASSERT_TRUE(h.configure({{"multi-conn-mode", t.mode}}));
    auto c = h.open();
    ASSERT_TRUE(c) << t.mode;
    EXPECT_EQ(*(*c)->can_multi_conn(), t.want) << t.mode << " plugin multi-conn " << t.plugin_mc;
    EXPECT_TRUE(*(*c)->can_flush());
  }
  Harness d;  // the default is auto
  ASSERT_TRUE(d.configure({}));
  EXPECT_TRUE(*(*d.open())->can_multi_conn());
}

TEST(MultiConnFilter, EmulateTurnsNativeFuaIntoAReplicatedFlush) {
  Harness h;
  ASSERT_TRUE(h.configure({{"multi-conn-mode", "emulate"}}));
  auto a = h.open(), b = h.open();
  EXPECT_EQ(*(*a)->can_fua(), FuaMode::Emulate);
  Harness p;
  ASSERT_TRUE(p.configure({{"multi-conn-mode", "plugin"}}));
  EXPECT_EQ(*(*p.open())->can_fua(), FuaMode::Native);
  std::vector<std::byte> buf(8);
  ASSERT_TRUE((*b)->pread(buf, 0, 0));
  ASSERT_TRUE((*a)->pwrite(bytes_of("fua!"), 0, kFua));
  EXPECT_EQ(h.log.text, "2Read;1Write;1Flush;2Flush;");
  EXPECT_EQ(h.disk.bytes()[3], std::byte{'!'});
}

TEST(MultiConnFilter, EmulateNeedsFlushEvenReadOnly) {
  for (const char* mode : {"emulate", "auto"}) {
    for (bool ro : {false, true}) {
      Harness h(caps(false, false));
      ASSERT_TRUE(h.configure({{"multi-conn-mode", mode}}));
      auto c = h.open("", ro);
      ASSERT_FALSE(c) << mode;
      EXPECT_NE(c.error().message.find("emulating multi-conn requires the plugin to support flush"),
                std::string::npos);
    }
  }
  // The other modes need nothing; auto over a multi-conn plugin is plugin mode.
  for (const char* mode : {"plugin", "unsafe", "disable"}) {
    Harness h(caps(false, false));
    ASSERT_TRUE(h.configure({{"multi-conn-mode", mode}}));
    EXPECT_TRUE(h.open()) << mode;
  }
  Harness m(caps(true, false));
  ASSERT_TRUE(m.configure({}));
  EXPECT_TRUE(m.open());
}

TEST(MultiConnFilter, SerializeConnectionsAdvertisesNothing) {
  for (const char* mode : {"auto", "emulate", "unsafe", "plugin"}) {
    Harness h;
    ASSERT_TRUE(h.configure({{"multi-conn-mode", mode}}, ThreadModel::SerializeConnections));
    EXPECT_FALSE(*(*h.open())->can_multi_conn()) << mode;
  }
  // auto becomes disable: no replication either.
  Harness h(caps(false));
  ASSERT_TRUE(h.configure({}, ThreadModel::SerializeConnections));
  EXPECT_EQ(run(h, "1w 2r 1f"), "1Write;2Read;1Flush;");
}

TEST(MultiConnFilter, ExportNameKeepsGroupsApart) {
  for (bool by_name : {true, false}) {
    Harness h;
    ASSERT_TRUE(
        h.configure({{"multi-conn-mode", "emulate"}, {"multi-conn-exportname", by_name ? "true" : "0"}}));
    auto a1 = h.open("a"), b = h.open("b"), a2 = h.open("a");
    std::vector<std::byte> buf(4);
    ASSERT_TRUE((*a1)->pwrite(buf, 0, 0));
    ASSERT_TRUE((*b)->pwrite(buf, 0, 0));
    ASSERT_TRUE((*a2)->pread(buf, 0, 0));
    ASSERT_TRUE((*a2)->flush(0));
    EXPECT_EQ(h.log.text,
              by_name ? "1Write;2Write;3Read;1Flush;3Flush;" : "1Write;2Write;3Read;1Flush;2Flush;3Flush;");
  }
}

TEST(MultiConnFilter, ClosedConnectionsLeaveTheGroup) {
  Harness h;
  ASSERT_TRUE(h.configure({{"multi-conn-mode", "emulate"}, {"multi-conn-track-dirty", "off"}}));
  auto a = h.open(), b = h.open(), c = h.open();
  h.close(*b);
  ASSERT_TRUE((*a)->flush(0));
  EXPECT_EQ(h.log.text, "1Flush;3Flush;");
  h.close(*a);
  h.close(*c);
  auto d = h.open();  // a fresh group
  h.log.text.clear();
  ASSERT_TRUE((*d)->flush(0));
  EXPECT_EQ(h.log.text, "4Flush;");
}

TEST(MultiConnFilter, AFailedReplicatedFlushStaysDirty) {
  Harness h;
  ASSERT_TRUE(h.configure({{"multi-conn-mode", "emulate"}}));
  auto a = h.open(), b = h.open();
  std::vector<std::byte> buf(4);
  ASSERT_TRUE((*a)->pwrite(buf, 0, 0));
  ASSERT_TRUE((*b)->pwrite(buf, 0, 0));
  h.disk.fail_next("flush", EIO);
  auto s = (*b)->flush(0);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().errnum, EIO);
  h.log.text.clear();
  ASSERT_TRUE((*b)->flush(0));  // both are still dirty: both are flushed again
  EXPECT_EQ(h.log.text, "1Flush;2Flush;");
  h.log.text.clear();
  ASSERT_TRUE((*a)->flush(0));
  EXPECT_EQ(h.log.text, "");
}

// Many clients writing and flushing at once (TSan watches the shared state). Under
// serialize_requests a replicated flush must wait for the connection's own request.
TEST(MultiConnFilter, ConcurrentClientsUnderSerializeRequests) {
  for (ThreadModel model : {ThreadModel::SerializeRequests, ThreadModel::Parallel}) {
    Harness h;
    ASSERT_TRUE(h.configure({{"multi-conn-mode", "emulate"}}, model));
    constexpr int kClients = 4, kRounds = 200;
    std::vector<Connection*> c;
    for (int i = 0; i < kClients; ++i) c.push_back(*h.open());
    Counting::total_overlaps = 0;
    Counting::slow = true;
    std::vector<std::thread> threads;
    for (int i = 0; i < kClients; ++i)
      threads.emplace_back([&, i] {
        std::vector<std::byte> buf(16, std::byte(i));
        for (int r = 0; r < kRounds; ++r) {
          ASSERT_TRUE(c[i]->pwrite(buf, 16 * i, 0));
          if (r % 3 == 0) {
            ASSERT_TRUE(c[i]->flush(0));
          }
        }
      });
    for (auto& t : threads) t.join();
    Counting::slow = false;
    if (model == ThreadModel::SerializeRequests) {
      EXPECT_EQ(Counting::total_overlaps.load(), 0);
    }
    for (int i = 0; i < kClients; ++i) EXPECT_EQ(h.disk.bytes()[16 * i + 15], std::byte(i));
    ASSERT_TRUE(c[0]->flush(0));  // flushes whatever the last writes left dirty
    h.log.text.clear();
    ASSERT_TRUE(c[1]->flush(0));  // now every connection is clean
    EXPECT_EQ(h.log.text, "");
  }
}

TEST(MultiConnFilter, RejectsBadValues) {
  auto f = multi_conn_filter_info.factory();
  for (auto [k, v, what] : {std::tuple{"multi-conn-mode", "sometimes", "multi-conn-mode=sometimes"},
                            std::tuple{"multi-conn-track-dirty", "slow", "multi-conn-track-dirty=slow"},
                            std::tuple{"multi-conn-exportname", "maybe", "multi-conn-exportname=maybe"}}) {
    auto r = f->config(k, v);
    ASSERT_FALSE(r) << k;
    EXPECT_NE(r.error().message.find(what), std::string::npos) << r.error().message;
  }
  EXPECT_TRUE(*f->config("multi-conn-track-dirty", "conn"));  // upstream's short form
  EXPECT_TRUE(*f->config("multi-conn-export-name", "yes"));
  EXPECT_FALSE(*f->config("mode", "emulate")) << "keys the filter does not own pass on";
}

}  // namespace
}  // namespace nbd::filters
