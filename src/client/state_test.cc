// SPDX-License-Identifier: BSD-3-Clause
// The client state machine against a scripted fake server on a socketpair: handshakes
// (oldstyle, newstyle with options), out-of-order replies, error chunks, and a server that
// misbehaves (garbage, wrong cookie, close mid-reply): always an error, never a hang or crash.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstring>
#include <functional>
#include <random>
#include <thread>

#include "client/fake_server_for_test.h"
#include "nbd/client.h"
#include "nbd/protocol.h"

namespace nbd::client {
namespace {

using namespace nbd::protocol;
using namespace nbd::client::testing;

TEST(StateTest, OldstyleHandshakeAndSimpleRead) {
  FakeServer server([](FakeServer& s) {
    s.send(encode_oldstyle_handshake(4096, kFlagHasFlags | kFlagReadOnly));
    Request r = s.request();
    EXPECT_EQ(r.type, uint16_t(Command::Read));
    EXPECT_EQ(r.offset, 512u);
    EXPECT_EQ(r.length, 5u);
    s.simple_reply(r.cookie, 0, bytes("hello"));
  });
  Handle h;
  ASSERT_TRUE(h.connect_socket(server.client_fd)) << h.get_error();
  EXPECT_EQ(*h.get_protocol(), "oldstyle");
  EXPECT_EQ(*h.get_size(), 4096);
  EXPECT_TRUE(*h.is_read_only());
  EXPECT_FALSE(*h.can_flush());
  char buf[5];
  ASSERT_TRUE(h.pread(std::as_writable_bytes(std::span(buf)), 512)) << h.get_error();
  EXPECT_EQ(std::string(buf, 5), "hello");
  // Strict mode refuses locally, before anything is sent.
  EXPECT_FALSE(h.pwrite(std::as_bytes(std::span(buf)), 0));
  EXPECT_EQ(h.get_errno(), EPERM);
  EXPECT_FALSE(h.pread(std::as_writable_bytes(std::span(buf)), 4095));
  EXPECT_EQ(h.get_errno(), EINVAL);
  EXPECT_NE(h.get_error().find("out of bounds"), std::string::npos);
}

// Regression: the client used to pipeline EXTENDED_HEADERS, STRUCTURED_REPLY, SET_META_CONTEXT
// and GO in one write; doc/proto.md says it MUST NOT send an option before the final reply to
// the previous one.
TEST(StateTest, OptionsGoOutOneAtATime) {
  std::atomic<bool> ready{false};
  FakeServer server([&](FakeServer& s) {
    while (!ready) std::this_thread::yield();
    s.newstyle(4096, 0);
  });
  server.check_one_option_at_a_time = true;
  ready = true;
  Handle h;
  ASSERT_TRUE(h.add_meta_context("base:allocation"));
  ASSERT_TRUE(h.connect_socket(server.client_fd)) << h.get_error();
  EXPECT_TRUE(*h.can_meta_context("base:allocation"));
  EXPECT_EQ(server.options_sent_too_early.load(), 0);
}

TEST(StateTest, OutOfOrderStructuredRepliesMatchByCookie) {
  FakeServer server([](FakeServer& s) {
    s.newstyle(1 << 20, kFlagSendFlush);
    Request a = s.request(), b = s.request();
    // Answer b first, a in two chunks with a hole.
    s.chunk(b.cookie, kReplyFlagDone, kReplyTypeOffsetData, data_payload(b.offset, bytes("BBBB")));
    s.chunk(a.cookie, 0, kReplyTypeOffsetData, data_payload(a.offset, bytes("AA")));
    Bytes hole(12);
    put_u64(hole.data(), a.offset + 2);
    put_u32(hole.data() + 8, 2);
    s.chunk(a.cookie, kReplyFlagDone, kReplyTypeOffsetHole, hole);
  });
  Handle h;
  ASSERT_TRUE(h.connect_socket(server.client_fd)) << h.get_error();
  EXPECT_TRUE(*h.get_structured_replies_negotiated());
  EXPECT_FALSE(*h.get_extended_headers_negotiated());
  char a[4] = {'x', 'x', 'x', 'x'}, b[4];
  h.set_pread_initialize(false);
  auto ca = h.aio_pread(std::as_writable_bytes(std::span(a)), 0);
  auto cb = h.aio_pread(std::as_writable_bytes(std::span(b)), 100);
  ASSERT_TRUE(ca && cb);
  EXPECT_LT(*ca, *cb);
  EXPECT_EQ(h.aio_in_flight(), 2u);
  while (h.aio_in_flight() > 0) ASSERT_TRUE(h.poll(-1)) << h.get_error();
  EXPECT_TRUE(*h.aio_command_completed(*cb));
  EXPECT_TRUE(*h.aio_command_completed(*ca));
  EXPECT_EQ(std::string(a, 4), std::string("AA\0\0", 4));
  EXPECT_EQ(std::string(b, 4), "BBBB");
  EXPECT_FALSE(*h.aio_command_completed(*ca));  // already retired: unknown, "not completed" as libnbd
}

TEST(StateTest, ErrorChunkFailsOnlyThatCommand) {
  FakeServer server([](FakeServer& s) {
    s.newstyle(1 << 20, kFlagSendFlush);
    Request r = s.request();
    s.recv(r.length);  // the write payload
    Bytes err;
    encode_error_payload(err, kENOSPC, "disk full", std::nullopt);
    s.chunk(r.cookie, kReplyFlagDone, kReplyTypeError, err);
    r = s.request();
    s.simple_reply(r.cookie, 0);
  });
  Handle h;
  ASSERT_TRUE(h.connect_socket(server.client_fd)) << h.get_error();
  char buf[8] = {};
  EXPECT_FALSE(h.pwrite(std::as_bytes(std::span(buf)), 0));
  EXPECT_EQ(h.get_errno(), ENOSPC);
  EXPECT_TRUE(h.flush()) << h.get_error();
  EXPECT_FALSE(h.aio_is_dead());
}

TEST(StateTest, CompletionCallbackRetiresCommand) {
  FakeServer server([](FakeServer& s) {
    s.newstyle(1 << 20, kFlagSendFlush);
    Request r = s.request();
    s.simple_reply(r.cookie, kEIO);
  });
  Handle h;
  ASSERT_TRUE(h.connect_socket(server.client_fd)) << h.get_error();
  int seen = -1;
  auto c = h.aio_flush([&seen](int* err) {
    seen = *err;
    return 1;
  });
  ASSERT_TRUE(c);
  while (h.aio_in_flight() > 0) ASSERT_TRUE(h.poll(-1));
  EXPECT_EQ(seen, EIO);
  EXPECT_FALSE(*h.aio_command_completed(*c));  // retired by the callback: unknown now
  EXPECT_EQ(h.aio_peek_command_completed(), 0u);
}

// Each misbehaving server: the command fails, the handle is dead, nothing hangs.
struct Misbehaviour {
  const char* name;
  std::function<void(FakeServer&, const Request&)> reply;
  const char* error_part;
};

const Misbehaviour kMisbehaviours[] = {
    {"garbage", [](FakeServer& s, const Request&) { s.send_raw("this is not an NBD reply!", 25); },
     "reply magic"},
    {"wrong cookie", [](FakeServer& s, const Request& r) { s.simple_reply(r.cookie + 1, 0); },
     "unknown cookie"},
    {"close mid-header",
     [](FakeServer& s, const Request&) {
       s.send(Bytes(5, std::byte{0x67}));
       s.hangup();
     },
     "closed the connection"},
    {"close mid-data",
     [](FakeServer& s, const Request& r) {
       Bytes b(kSimpleReplySize);
       encode_simple_reply(b.data(), r.cookie, 0);
       b.resize(b.size() + 3);
       s.send(b);
       s.hangup();
     },
     "closed the connection"},
    {"data out of range",
     [](FakeServer& s, const Request& r) {
       s.chunk(r.cookie, kReplyFlagDone, kReplyTypeOffsetData,
               data_payload(r.offset + 100, bytes("ZZZZZZZZ")));
     },
     "outside the requested range"},
    {"unknown chunk type", [](FakeServer& s, const Request& r) { s.chunk(r.cookie, kReplyFlagDone, 77, {}); },
     "unknown reply chunk type"},
    {"huge chunk",
     [](FakeServer& s, const Request& r) {
       Bytes b(kStructuredReplySize);
       encode_chunk_header(b.data(), false, kReplyFlagDone, kReplyTypeError, r.cookie, 0, 0xfffffff0u);
       s.send(b);
     },
     "too large"},
};

TEST(StateTest, MisbehavingServerKillsTheHandleWithAnError) {
  for (const auto& m : kMisbehaviours) {
    SCOPED_TRACE(m.name);
    FakeServer server([&m](FakeServer& s) {
      s.newstyle(1 << 20, 0);
      Request r = s.request();
      m.reply(s, r);
    });
    Handle h;
    ASSERT_TRUE(h.connect_socket(server.client_fd)) << h.get_error();
    char buf[8];
    ASSERT_FALSE(h.pread(std::as_writable_bytes(std::span(buf)), 0));
    EXPECT_NE(h.get_error().find(m.error_part), std::string::npos) << h.get_error();
    EXPECT_TRUE(h.aio_is_dead());
    EXPECT_FALSE(h.flush());  // later calls fail at once
  }
}

// Large write payloads go to the kernel by reference (vmsplice): what the server receives is
// exactly what the buffer held, across pipe-sized pieces and with several writes in flight,
// and the caller may reuse the buffer once the command completed.
TEST(StateTest, LargeWritePayloadsArriveIntact) {
  constexpr size_t kLen = (4 << 20) + 12345;  // several pipe-fulls and an odd tail
  auto pattern = [](uint8_t seed) {
    Bytes b(kLen);
    for (size_t i = 0; i < kLen; ++i) b[i] = std::byte(uint8_t(i * 7 + seed + (i >> 12)));
    return b;
  };
  std::atomic<int> good{0};
  FakeServer server([&](FakeServer& s) {
    s.newstyle(64 << 20, 0);
    for (int i = 0; i < 3; ++i) {
      Request r = s.request();
      Bytes got = s.recv(r.length);
      if (r.length == kLen && got == pattern(uint8_t(r.offset >> 20))) ++good;
      s.simple_reply(r.cookie, 0);
    }
  });
  Handle h;
  ASSERT_TRUE(h.connect_socket(server.client_fd)) << h.get_error();
  Bytes a = pattern(0), b = pattern(8);
  ASSERT_TRUE(h.aio_pwrite(a, 0));
  ASSERT_TRUE(h.aio_pwrite(b, 8 << 20));
  while (h.aio_in_flight() > 0) ASSERT_TRUE(h.poll(-1));
  a = pattern(16);  // reused after completion
  ASSERT_TRUE(h.pwrite(a, 16 << 20)) << h.get_error();
  EXPECT_EQ(good.load(), 3);
}

// A server that goes away while a large payload is being spliced to it: an error on the
// handle, never SIGPIPE (splice does not take MSG_NOSIGNAL).
TEST(StateTest, ServerGoneDuringLargeWriteIsAnError) {
  FakeServer server([](FakeServer& s) {
    s.newstyle(64 << 20, 0);
    (void)s.request();
    s.hangup();
  });
  Handle h;
  ASSERT_TRUE(h.connect_socket(server.client_fd)) << h.get_error();
  Bytes big(32 << 20, std::byte{1});
  EXPECT_FALSE(h.pwrite(big, 0));
  EXPECT_TRUE(h.aio_is_dead());
  EXPECT_FALSE(h.get_error().empty());
}

// A discarded read consumes exactly its reply (data and hole chunks) and reports errors; the
// next reply is read intact.
TEST(StateTest, DiscardedReadKeepsTheStreamInStep) {
  constexpr size_t kData = 300000;
  FakeServer server([](FakeServer& s) {
    s.newstyle(64 << 20, 0);
    Request r = s.request();  // the discarded read: data, then a hole, in two chunks
    Bytes data(kData, std::byte{0x5a});
    s.chunk(r.cookie, 0, kReplyTypeOffsetData, data_payload(r.offset, data));
    Bytes hole(12);
    put_u64(hole.data(), r.offset + kData);
    put_u32(hole.data() + 8, uint32_t(r.length - kData));
    s.chunk(r.cookie, kReplyFlagDone, kReplyTypeOffsetHole, hole);
    r = s.request();  // a discarded read that fails
    Bytes err(6);
    put_u32(err.data(), kEIO);
    s.chunk(r.cookie, kReplyFlagDone, kReplyTypeError, err);
    r = s.request();  // an ordinary read
    s.chunk(r.cookie, kReplyFlagDone, kReplyTypeOffsetData, data_payload(r.offset, bytes("ABCDEFGH")));
  });
  Handle h;
  ASSERT_TRUE(h.connect_socket(server.client_fd)) << h.get_error();
  int e1 = -1, e2 = -1;
  ASSERT_TRUE(h.aio_pread_discard(1 << 20, 0, [&](int* e) {
    e1 = *e;
    return 1;
  }));
  ASSERT_TRUE(h.aio_pread_discard(4096, 0, [&](int* e) {
    e2 = *e;
    return 1;
  }));
  char buf[8];
  ASSERT_TRUE(h.pread(std::as_writable_bytes(std::span(buf)), 8)) << h.get_error();
  while (h.aio_in_flight() > 0) ASSERT_TRUE(h.poll(-1));
  EXPECT_EQ(e1, 0);
  EXPECT_EQ(e2, EIO);
  EXPECT_EQ(std::string(buf, 8), "ABCDEFGH");
}

TEST(StateTest, BadHandshakesFail) {
  struct Case {
    const char* name;
    std::function<void(FakeServer&)> script;
    const char* error_part;
  };
  const Case cases[] = {
      {"wrong magic", [](FakeServer& s) { s.send_raw("HTTP/1.1 200 OK\r\n\r\n", 19); }, "NBD magic"},
      {"close at once", [](FakeServer& s) { s.hangup(); }, "closed the connection"},
      {"garbage option reply",
       [](FakeServer& s) {
         s.send(encode_newstyle_handshake(kFlagFixedNewstyle));
         s.recv(4);
         s.recv(kOptionHeaderSize);
         s.send(Bytes(20, std::byte{1}));
       },
       "option reply"},
      {"GO refused",
       [](FakeServer& s) {
         s.send(encode_newstyle_handshake(kFlagFixedNewstyle));
         s.recv(4);
         for (int i = 0; i < 3; ++i) {
           auto oh = decode_option_header(s.recv(kOptionHeaderSize));
           s.recv(oh->length);
           Bytes out;
           encode_option_reply(out, oh->option, kRepErrUnknown, {});
           s.send(out);
         }
       },
       "server has no export named ''"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    FakeServer server(c.script);
    Handle h;
    ASSERT_FALSE(h.connect_socket(server.client_fd));
    EXPECT_NE(h.get_error().find(c.error_part), std::string::npos) << h.get_error();
    EXPECT_TRUE(h.aio_is_dead());
  }
}

TEST(StateTest, BlockStatusCallsBackPerContext) {
  FakeServer server([](FakeServer& s) {
    s.newstyle(1 << 20, 0);
    Request r = s.request();
    EXPECT_EQ(r.type, uint16_t(Command::BlockStatus));
    Bytes p;
    BlockDescriptor d[] = {{4096, 0}, {8192, kStateHole | kStateZero}};
    encode_block_status(p, false, 7, d);
    s.chunk(r.cookie, kReplyFlagDone, kReplyTypeBlockStatus, p);
  });
  Handle h;
  ASSERT_TRUE(h.add_meta_context("base:allocation"));
  ASSERT_TRUE(h.connect_socket(server.client_fd)) << h.get_error();
  ASSERT_TRUE(*h.can_meta_context("base:allocation"));
  std::vector<Extent> got;
  ExtentCallback cb = [&got](std::string_view ctx, uint64_t off, std::span<const Extent> es, int*) {
    EXPECT_EQ(ctx, "base:allocation");
    EXPECT_EQ(off, 0u);
    got.assign(es.begin(), es.end());
    return 0;
  };
  ASSERT_TRUE(h.block_status_64(12288, 0, cb)) << h.get_error();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].length, 4096u);
  EXPECT_EQ(got[1].flags, kStateHole | kStateZero);
}

// Old servers: NBD_OPT_GO unknown (fall back to NBD_OPT_EXPORT_NAME), or not even fixed newstyle.
TEST(StateTest, ExportNameFallbacks) {
  for (bool fixed : {true, false}) {
    SCOPED_TRACE(fixed ? "fixed newstyle without GO" : "plain newstyle");
    FakeServer server([fixed](FakeServer& s) {
      s.send(encode_newstyle_handshake(fixed ? kFlagFixedNewstyle : 0));
      EXPECT_EQ(get_u32(s.recv(4).data()), fixed ? kClientFlagFixedNewstyle : 0u);
      for (;;) {
        auto oh = decode_option_header(s.recv(kOptionHeaderSize));
        ASSERT_TRUE(oh);
        Bytes payload = s.recv(oh->length);
        if (oh->option == uint32_t(Option::ExportName)) {
          EXPECT_EQ(std::string(reinterpret_cast<char*>(payload.data()), payload.size()), "disk1");
          Bytes reply(kExportNameReplySize + 124);
          put_u64(reply.data(), 12345);
          put_u16(reply.data() + 8, kFlagHasFlags | kFlagReadOnly);
          s.send(reply);
          return;
        }
        EXPECT_TRUE(fixed) << "a plain newstyle server got option " << oh->option;
        Bytes out;
        encode_option_reply(out, oh->option, kRepErrUnsup, {});
        s.send(out);
      }
    });
    Handle h;
    ASSERT_TRUE(h.set_export_name("disk1"));
    ASSERT_TRUE(h.connect_socket(server.client_fd)) << h.get_error();
    EXPECT_EQ(*h.get_size(), 12345);
    EXPECT_TRUE(*h.is_read_only());
    EXPECT_EQ(*h.get_protocol(), fixed ? "newstyle-fixed" : "newstyle");
    EXPECT_FALSE(*h.get_structured_replies_negotiated());
  }
  // TLS required but the server can't: refused before any option.
  FakeServer server([](FakeServer& s) {
    s.send(encode_newstyle_handshake(0));
    s.recv(4);
  });
  Handle h;
  ASSERT_TRUE(h.set_tls(TlsMode::Require));
  EXPECT_FALSE(h.connect_socket(server.client_fd));
  EXPECT_NE(h.get_error().find("TLS"), std::string::npos) << h.get_error();
}

TEST(StateTest, ShutdownSendsQueuedCommandsUnlessAbandoned) {
  for (bool abandon : {false, true}) {
    SCOPED_TRACE(abandon ? "abandon" : "keep");
    FakeServer server([abandon](FakeServer& s) {
      s.newstyle(1 << 20, kFlagSendFlush);
      Request r = s.request();
      if (!abandon) {
        EXPECT_EQ(r.type, uint16_t(Command::Flush));
        s.simple_reply(r.cookie, 0);
        r = s.request();
      }
      EXPECT_EQ(r.type, uint16_t(Command::Disc));
      s.hangup();
    });
    Handle h;
    ASSERT_TRUE(h.connect_socket(server.client_fd)) << h.get_error();
    int seen = -1;
    ASSERT_TRUE(h.aio_flush([&seen](int* e) {
      seen = *e;
      return 1;
    }));
    ASSERT_TRUE(h.shutdown(abandon ? kShutdownAbandonPending : 0)) << h.get_error();
    EXPECT_EQ(seen, abandon ? ESHUTDOWN : 0);
    EXPECT_TRUE(h.aio_is_closed());
    EXPECT_FALSE(h.flush());  // closed: no more commands
  }
}

}  // namespace
}  // namespace nbd::client
