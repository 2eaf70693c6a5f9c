// SPDX-License-Identifier: BSD-3-Clause
// The stack as the server builds it (Backend + a Layer boundary per layer): emulation at a
// filter's boundary, checks against each layer's own answers, prepare/finalize order, reopen,
// contexts with no client, and a Session on a socketpair for preconnect and the negotiated flags.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "fixtures/fake_disk.h"
#include "server/backend.h"
#include "server/fake_client_for_test.h"
#include "server/session.h"

namespace nbd::server {
namespace {

using nbd::testing::FakeCall;
using nbd::testing::FakeDisk;
using namespace nbd::protocol;

std::vector<std::string> g_events;

// What a test filter answers and does.
struct Behaviour {
  std::optional<FuaMode> fua;
  std::optional<CacheMode> cache;
  std::optional<ZeroMode> zero;
  bool fail_prepare = false, fail_finalize = false;
  bool retry_reads = false;  // reopen the layer below once on a failed read
  bool refuse_preconnect = false;
  int disconnect_on_read = -1;  // 0 or 1: a read calls nbd::disconnect_client(force) first
};

class TestConnection final : public FilterConnection {
 public:
  TestConnection(std::unique_ptr<Connection> next, std::string name, const Behaviour& b, const Filter& f,
                 OpenParams params)
      : FilterConnection(std::move(next)), name_(std::move(name)), b_(b), f_(f), params_(std::move(params)) {}
  Result<FuaMode> can_fua() override { return b_.fua ? *b_.fua : next().can_fua(); }
  Result<CacheMode> can_cache() override { return b_.cache ? *b_.cache : next().can_cache(); }
  Result<ZeroMode> can_zero() override { return b_.zero ? *b_.zero : next().can_zero(); }
  Status pwrite(std::span<const std::byte> buf, uint64_t offset, uint32_t flags) override {
    g_events.push_back(name_ + " pwrite fua=" + std::to_string(flags & kFua));
    return next().pwrite(buf, offset, flags);
  }
  Status pread(std::span<std::byte> buf, uint64_t offset, uint32_t flags) override {
    g_events.push_back(name_ + " pread");
    if (b_.disconnect_on_read >= 0) nbd::disconnect_client(b_.disconnect_on_read == 1);
    Status s = next().pread(buf, offset, flags);
    if (s || !b_.retry_reads) return s;
    NBD_TRY_ASSIGN(auto fresh, f_.open_below(params_));
    auto old = replace_next(std::move(fresh));
    NBD_TRY(old->finalize());
    return next().pread(buf, offset, flags);
  }
  Status prepare(bool) override {
    g_events.push_back("prepare " + name_);
    return b_.fail_prepare ? make_error(EIO, name_ + ": prepare failed") : ok();
  }
  Status finalize() override {
    g_events.push_back("finalize " + name_);
    return b_.fail_finalize ? make_error(EIO, name_ + ": finalize failed") : ok();
  }

 private:
  std::string name_;
  const Behaviour& b_;
  const Filter& f_;
  OpenParams params_;
};

class TestFilter final : public Filter {
 public:
  TestFilter(std::string name, Behaviour& b) : name_(std::move(name)), b_(b) {}
  // NAME-own=V is consumed; NAME-alias=V is passed on as size=V; the rest is forwarded.
  Status config(std::string_view key, std::string_view value, const NextConfig& next) override {
    if (key == name_ + "-own") return ok();
    if (key == name_ + "-alias") return next("size", value);
    return next(key, value);
  }
  Status preconnect(const Peer& peer, bool) override {
    peer_ = peer;
    return b_.refuse_preconnect ? make_error(EPERM, "refused") : ok();
  }
  Result<std::unique_ptr<Connection>> open(const OpenParams& p, const NextOpen& next) override {
    g_events.push_back("open " + name_);
    NBD_TRY_ASSIGN(auto below, next(p));
    return std::unique_ptr<Connection>(
        std::make_unique<TestConnection>(std::move(below), name_, b_, *this, p));
  }
  Peer peer_;

 private:
  std::string name_;
  Behaviour& b_;
};

// The plugin: the fake disk, with its prepare/finalize recorded.
class RecordedDisk final : public FilterConnection {
 public:
  explicit RecordedDisk(std::unique_ptr<Connection> c) : FilterConnection(std::move(c)) {}
  Status prepare(bool) override {
    g_events.push_back("prepare plugin");
    return ok();
  }
  Status finalize() override {
    g_events.push_back("finalize plugin");
    return ok();
  }
  Connection* lower_layer() override { return nullptr; }
};

class FakePlugin final : public Plugin {
 public:
  explicit FakePlugin(FakeDisk& d) : d_(d) {}
  Status config(std::string_view key, std::string_view value) override {
    if (key != "size") return Plugin::config(key, value);
    configured_.push_back(std::string(key) + "=" + std::string(value));
    return ok();
  }
  std::vector<std::string> configured_;
  Result<std::unique_ptr<Connection>> open(const OpenParams& p) override {
    g_events.push_back("open plugin");
    last_ = p;
    return std::unique_ptr<Connection>(std::make_unique<RecordedDisk>(d_.open()));
  }
  OpenParams last_;

 private:
  FakeDisk& d_;
};

const PluginInfo kPluginInfo{
    .name = "fake", .description = "", .magic_config_key = "", .params = {}, .factory = nullptr};
const FilterInfo kFilterInfo1{.name = "outer", .description = "", .params = {}, .factory = nullptr};
const FilterInfo kFilterInfo2{.name = "inner", .description = "", .params = {}, .factory = nullptr};

struct Stack {
  explicit Stack(uint64_t size = 1 << 20, int filters = 2) : disk(size) {
    std::fill(disk.bytes().begin(), disk.bytes().end(), std::byte{7});
    auto p = std::make_unique<FakePlugin>(disk);
    plugin = p.get();
    std::vector<std::pair<const FilterInfo*, std::unique_ptr<Filter>>> fs;
    if (filters >= 1) fs.emplace_back(&kFilterInfo1, std::make_unique<TestFilter>("outer", outer));
    if (filters >= 2) fs.emplace_back(&kFilterInfo2, std::make_unique<TestFilter>("inner", inner));
    backend = std::make_unique<Backend>(kPluginInfo, std::move(p), std::move(fs));
    g_events.clear();
  }
  TestFilter& filter(size_t i) { return static_cast<TestFilter&>(backend->filter(i)); }
  FakeDisk disk;
  Behaviour outer, inner;
  FakePlugin* plugin;
  std::unique_ptr<Backend> backend;
};

TEST(Stack, FiltersConsumeForwardOrRewriteKeys) {
  Stack s;
  ASSERT_TRUE(s.backend->configure({{"outer-own", "1"}, {"inner-alias", "5"}, {"size", "6"}}));
  EXPECT_EQ(s.plugin->configured_, (std::vector<std::string>{"size=5", "size=6"}));
  // An unknown key reaches the plugin, whose error is named once, by the plugin.
  auto r = s.backend->configure({{"bogus", "1"}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message.rfind("fake: ", 0), 0u) << r.error().message;
  EXPECT_EQ(r.error().message.find("outer"), std::string::npos) << r.error().message;
}

TEST(Stack, PrepareNearestThePluginFirstAndFinalizeOutermostFirst) {
  Stack s;
  auto top = s.backend->open({});
  ASSERT_TRUE(top);
  EXPECT_EQ(g_events, (std::vector<std::string>{"open outer", "open inner", "open plugin", "prepare plugin",
                                                "prepare inner", "prepare outer"}));
  g_events.clear();
  ASSERT_TRUE((*top)->finalize());
  EXPECT_EQ(g_events, (std::vector<std::string>{"finalize outer", "finalize inner", "finalize plugin"}));
  g_events.clear();
  ASSERT_TRUE((*top)->finalize());  // once only
  EXPECT_TRUE(g_events.empty());
}

TEST(Stack, FailedPrepareFailsTheOpenAndFinalizesOnlyWhatWasPrepared) {
  Stack s;
  s.inner.fail_prepare = true;
  auto top = s.backend->open({});
  ASSERT_FALSE(top);
  EXPECT_NE(top.error().message.find("inner: prepare failed"), std::string::npos);
  EXPECT_EQ(g_events, (std::vector<std::string>{"open outer", "open inner", "open plugin", "prepare plugin",
                                                "prepare inner", "finalize plugin"}));
  EXPECT_EQ(s.disk.closes(), 1);
}

TEST(Stack, FailedFinalizeIsReportedAndTheRestStillFinalize) {
  Stack s;
  s.outer.fail_finalize = true;
  auto top = s.backend->open({});
  ASSERT_TRUE(top);
  g_events.clear();
  auto r = (*top)->finalize();
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("outer: finalize failed"), std::string::npos);
  EXPECT_EQ(g_events, (std::vector<std::string>{"finalize outer", "finalize inner", "finalize plugin"}));
}

TEST(Stack, FuaEmulatedAtAFilterBoundary) {
  Stack s;
  // The plugin does FUA natively; the inner filter says emulate; the outer one takes FUA
  // natively and passes it down to the inner filter's boundary, which emulates it.
  s.inner.fua = FuaMode::Emulate;
  s.outer.fua = FuaMode::Native;
  auto top = s.backend->open({});
  ASSERT_TRUE(top);
  EXPECT_EQ(*(*top)->can_fua(), FuaMode::Native);
  g_events.clear();
  std::vector<std::byte> buf(512, std::byte{1});
  ASSERT_TRUE((*top)->pwrite(buf, 4096, kFua));
  // outer passes FUA on; inner's boundary strips it and flushes after the write.
  EXPECT_EQ(g_events, (std::vector<std::string>{"outer pwrite fua=1", "inner pwrite fua=0"}));
  EXPECT_EQ(s.disk.calls(), (std::vector<FakeCall>{{"pwrite", 4096, 512, 0}, {"flush", 0, 0, 0}}));
  EXPECT_EQ(s.disk.bytes()[4096], std::byte{1});
}

TEST(Stack, NoFuaAtAFilterBoundaryIsRefusedThere) {
  Stack s;
  s.inner.fua = FuaMode::None;
  auto top = s.backend->open({});
  ASSERT_TRUE(top);
  std::vector<std::byte> buf(512);
  auto r = (*top)->pwrite(buf, 0, kFua);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().errnum, EINVAL);
  EXPECT_TRUE(s.disk.calls().empty());
}

TEST(Stack, CacheEmulatedAtAFilterBoundaryReadsThroughTheFilter) {
  Stack s;
  s.outer.cache = CacheMode::Emulate;
  auto top = s.backend->open({});
  ASSERT_TRUE(top);
  g_events.clear();
  ASSERT_TRUE((*top)->cache(8192, 0, 0));
  EXPECT_EQ(g_events, (std::vector<std::string>{"outer pread", "inner pread"}));
  EXPECT_EQ(s.disk.calls(), (std::vector<FakeCall>{{"pread", 0, 8192, 0}}));
}

TEST(Stack, ZeroEmulatedAtAFilterBoundaryWritesThroughTheFilter) {
  Stack s;
  s.outer.zero = ZeroMode::Emulate;  // the plugin zeroes natively
  auto top = s.backend->open({});
  ASSERT_TRUE(top);
  g_events.clear();
  ASSERT_TRUE((*top)->zero(1000, 24, 0));
  EXPECT_EQ(g_events, (std::vector<std::string>{"outer pwrite fua=0", "inner pwrite fua=0"}));
  EXPECT_EQ(s.disk.calls(), (std::vector<FakeCall>{{"pwrite", 24, 1000, 0}}));
  EXPECT_EQ(s.disk.bytes()[23], std::byte{7});
  EXPECT_EQ(s.disk.bytes()[24], std::byte{0});
  EXPECT_EQ(s.disk.bytes()[1023], std::byte{0});
  EXPECT_EQ(s.disk.bytes()[1024], std::byte{7});
  // An emulated zero is never fast.
  EXPECT_EQ((*top)->zero(10, 0, kFastZero).error().errnum, ENOTSUP);
}

TEST(Stack, AFilterLearnsThatThePluginCannotZero) {
  Stack s;
  s.disk.caps().zero = false;  // a plugin without zero: the core emulates it at its boundary
  auto top = s.backend->open({});
  ASSERT_TRUE(top);
  EXPECT_EQ(*(*top)->can_zero(), ZeroMode::Emulate);
  ASSERT_TRUE((*top)->zero(100, 0, 0));
  EXPECT_EQ(s.disk.calls(), (std::vector<FakeCall>{{"pwrite", 0, 100, 0}}));
}

TEST(Stack, ReadOnlyContextsAndOutOfRangeRequestsStopAtTheBoundary) {
  Stack s(4096);
  OpenParams p{.readonly = true};
  auto top = s.backend->open(p);
  ASSERT_TRUE(top);
  EXPECT_FALSE(*(*top)->can_write());
  EXPECT_EQ(*(*top)->can_zero(), ZeroMode::None);
  std::vector<std::byte> buf(512);
  EXPECT_EQ((*top)->pwrite(buf, 0, 0).error().errnum, EROFS);
  EXPECT_EQ((*top)->pread(buf, 4000, 0).error().errnum, EINVAL);
  EXPECT_TRUE((*top)->pread(buf, 3584, 0));
  EXPECT_EQ(s.disk.calls(), (std::vector<FakeCall>{{"pread", 3584, 512, 0}}));
}

TEST(Stack, AFilterReopensTheLayerBelow) {
  Stack s;
  s.inner.retry_reads = true;
  auto top = s.backend->open({});
  ASSERT_TRUE(top);
  EXPECT_EQ(s.disk.opens(), 1);
  g_events.clear();
  s.disk.fail_next("pread", EIO);
  std::vector<std::byte> buf(100);
  ASSERT_TRUE((*top)->pread(buf, 0, 0));
  EXPECT_EQ(buf[0], std::byte{7});
  EXPECT_EQ(s.disk.opens(), 2);
  EXPECT_EQ(s.disk.closes(), 1);  // the old context was finalized and closed
  EXPECT_EQ(g_events, (std::vector<std::string>{"outer pread", "inner pread", "open plugin", "prepare plugin",
                                                "finalize plugin"}));
  g_events.clear();
  ASSERT_TRUE((*top)->finalize());
  EXPECT_EQ(g_events, (std::vector<std::string>{"finalize outer", "finalize inner", "finalize plugin"}));
}

TEST(Stack, AFilterOpensAContextWithNoClient) {
  Stack s;
  auto below = s.filter(0).open_below({});
  ASSERT_TRUE(below);
  EXPECT_EQ(s.plugin->last_.connection_id, 0u);
  std::vector<std::byte> buf(10);
  ASSERT_TRUE((*below)->pread(buf, 0, 0));
  EXPECT_EQ(buf[9], std::byte{7});
  ASSERT_TRUE((*below)->finalize());
  // Negative: a filter that is not part of a stack cannot.
  Behaviour b;
  TestFilter loose("loose", b);
  auto r = loose.open_below({});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().errnum, EINVAL);
}

// ---- a Session on a socketpair ----

// The test is the client; FakeClient runs the Session (SIGPIPE ignored, as serve() does).
struct Served : testing::FakeClient {
  explicit Served(Stack& s, Options o = {}) : FakeClient(*s.backend, std::move(o)) {}
  void write(const std::vector<std::byte>& b) { ASSERT_TRUE(send(b)); }
  std::vector<std::byte> read(size_t n) { return recv(n); }
};

TEST(Session, PreconnectRefusesBeforeTheGreetingWithThePeersCredentials) {
  Stack s(4096, 1);
  s.outer.refuse_preconnect = true;
  {
    Served srv(s);
    EXPECT_TRUE(srv.read(1).empty()) << "a refused client must not get a single byte";
  }  // joined: what the server thread recorded is safe to read
  EXPECT_EQ(s.filter(0).peer_.address, "unix");
  EXPECT_EQ(s.filter(0).peer_.uid, int64_t(getuid()));
  EXPECT_EQ(s.filter(0).peer_.pid, int64_t(getpid()));
  EXPECT_EQ(s.filter(0).peer_.family(), AF_UNIX);
  EXPECT_EQ(s.disk.opens(), 0);
}

TEST(Session, AnAcceptedClientGetsTheGreeting) {
  Stack s(4096, 1);
  Served srv(s);
  auto g = srv.read(18);
  ASSERT_EQ(g.size(), 18u);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(g.data()), 8), "NBDMAGIC");
}

// Newstyle handshake up to NBD_OPT_EXPORT_NAME (with STRUCTURED_REPLY first if asked), then one
// read of 16 bytes at 0 with the DF flag. Returns the export's transmission flags; the reply
// header is left for the caller.
uint16_t export_name_then_df_read(Served& srv, bool structured) {
  EXPECT_EQ(srv.read(18).size(), 18u);
  std::vector<std::byte> out(4);
  put_u32(out.data(), kClientFlagFixedNewstyle | kClientFlagNoZeroes);
  if (structured) {
    encode_option_header(out, uint32_t(Option::StructuredReply), 0);
    srv.write(out);
    auto rep = decode_option_reply_header(srv.read(20));
    EXPECT_TRUE(rep && rep->type == kRepAck);
    out.clear();
  }
  encode_option_header(out, uint32_t(Option::ExportName), 0);
  srv.write(out);
  auto info = srv.read(10);
  EXPECT_EQ(info.size(), 10u);
  if (info.size() != 10) return 0;
  EXPECT_EQ(get_u64(info.data()), 4096u);
  std::vector<std::byte> req(kRequestSize);
  encode_request(
      req.data(),
      Request{.flags = kCmdFlagDf, .type = uint16_t(Command::Read), .cookie = 9, .offset = 0, .length = 16},
      false);
  srv.write(req);
  return get_u16(info.data() + 8);
}

// The bug: structured replies then NBD_OPT_EXPORT_NAME advertised DF, and DF reads got EINVAL.
TEST(Session, StructuredRepliesThenExportNameAcceptDfReads) {
  Stack s(4096, 1);
  Served srv(s);
  EXPECT_TRUE(export_name_then_df_read(srv, true) & kFlagSendDf);
  auto h = decode_reply_header(srv.read(kStructuredReplySize));
  ASSERT_TRUE(h);
  EXPECT_EQ(h->cookie, 9u);
  EXPECT_EQ(h->type, kReplyTypeOffsetData) << "DF read refused";
  auto payload = srv.read(size_t(h->length));
  ASSERT_EQ(payload.size(), 8u + 16u);
  EXPECT_EQ(payload[8], std::byte{7});
}

TEST(Session, WithoutStructuredRepliesDfIsNeitherAdvertisedNorAccepted) {
  Stack s(4096, 1);
  Served srv(s);
  EXPECT_FALSE(export_name_then_df_read(srv, false) & kFlagSendDf);
  auto h = decode_reply_header(srv.read(kSimpleReplySize));
  ASSERT_TRUE(h);
  EXPECT_EQ(h->cookie, 9u);
  EXPECT_EQ(h->error, kEINVAL);
}

TEST(Session, DisconnectClientWithForceSendsNoMoreReplies) {
  Stack s(4096, 1);
  s.outer.disconnect_on_read = 1;
  Served srv(s);
  export_name_then_df_read(srv, true);
  EXPECT_TRUE(srv.read(1).empty()) << "a forced disconnect must not send the reply";
}

TEST(Session, DisconnectClientWithoutForceSendsTheReplyInFlightThenCloses) {
  Stack s(4096, 1);
  s.outer.disconnect_on_read = 0;
  Served srv(s);
  export_name_then_df_read(srv, true);
  auto h = decode_reply_header(srv.read(kStructuredReplySize));
  ASSERT_TRUE(h);
  EXPECT_EQ(h->type, kReplyTypeOffsetData);
  ASSERT_EQ(srv.read(size_t(h->length)).size(), 24u);
  EXPECT_TRUE(srv.read(1).empty()) << "the connection should close after the reply";
}

TEST(Nanosleep, WakesWhenTheClientDisconnects) {
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  std::thread closer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    ::close(fds[0]);
  });
  auto t0 = std::chrono::steady_clock::now();
  Status r;
  {
    ClientScope scope(fds[1]);
    r = nbd::nanosleep(20'000'000'000);
  }
  closer.join();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().errnum, ESHUTDOWN);
  // Negative: with the client still there, the sleep runs its full length.
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds + 0), 0);
  ClientScope scope(fds[1]);
  t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(nbd::nanosleep(30'000'000));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(30));
  ::close(fds[0]);
  ::close(fds[1]);
}

}  // namespace
}  // namespace nbd::server
