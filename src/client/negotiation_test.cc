// SPDX-License-Identifier: BSD-3-Clause
// The option negotiation as named states: the debug log's "transition:" lines for a normal
// connect, opt mode, and servers that refuse options, against the scripted fake server.
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "client/fake_server_for_test.h"
#include "nbd/client.h"
#include "nbd/protocol.h"

namespace nbd::client {
namespace {

using namespace nbd::protocol;
using namespace nbd::client::testing;

// The states entered, in order, from the "transition: A -> B" lines of a debug log.
std::vector<std::string> states_entered(const std::string& log) {
  std::vector<std::string> out;
  std::istringstream in(log);
  for (std::string line; std::getline(in, line);) {
    auto at = line.find("transition: ");
    if (at == std::string::npos) continue;
    auto arrow = line.find(" -> ", at);
    if (arrow != std::string::npos) out.push_back(line.substr(arrow + 4));
  }
  return out;
}

// Answers every option with NBD_REP_ERR_UNKNOWN.
void refuses_everything(FakeServer& s) {
  s.send(encode_newstyle_handshake(kFlagFixedNewstyle | kFlagNoZeroes));
  s.recv(4);
  for (;;) {
    auto oh = decode_option_header(s.recv(kOptionHeaderSize));
    if (!oh) return;
    s.recv(oh->length);
    Bytes out;
    encode_option_reply(out, oh->option, kRepErrUnknown, {});
    s.send(out);
  }
}

struct Case {
  const char* name;
  std::function<void(FakeServer&)> server;
  std::function<void(Handle&)> setup;
  std::vector<std::string> states;
  const char* error_part;  // nullptr: connects
};

const Case kCases[] = {
    {"normal connect",
     [](FakeServer& s) { s.newstyle(4096, 0); },
     [](Handle& h) { ASSERT_TRUE(h.add_meta_context("base:allocation")); },
     {"HANDSHAKE", "NEWSTYLE.OPT_EXTENDED_HEADERS", "NEWSTYLE.OPT_STRUCTURED_REPLY",
      "NEWSTYLE.OPT_SET_META_CONTEXT", "NEWSTYLE.OPT_GO", "READY"},
     nullptr},
    {"no meta context asked for",
     [](FakeServer& s) { s.newstyle(4096, 0); },
     [](Handle&) {},
     {"HANDSHAKE", "NEWSTYLE.OPT_EXTENDED_HEADERS", "NEWSTYLE.OPT_STRUCTURED_REPLY", "NEWSTYLE.OPT_GO",
      "READY"},
     nullptr},
    {"structured replies refused",
     [](FakeServer& s) { s.newstyle(4096, 0, false); },
     [](Handle&) {},
     {"HANDSHAKE", "NEWSTYLE.OPT_EXTENDED_HEADERS", "NEWSTYLE.OPT_STRUCTURED_REPLY", "NEWSTYLE.OPT_GO",
      "READY"},
     nullptr},
    {"nothing requested",
     [](FakeServer& s) { s.newstyle(4096, 0); },
     [](Handle& h) {
       ASSERT_TRUE(h.set_request_extended_headers(false));
       ASSERT_TRUE(h.set_request_structured_replies(false));
     },
     {"HANDSHAKE", "NEWSTYLE.OPT_GO", "READY"},
     nullptr},
    {"GO refused",
     refuses_everything,
     [](Handle&) {},
     {"HANDSHAKE", "NEWSTYLE.OPT_EXTENDED_HEADERS", "NEWSTYLE.OPT_STRUCTURED_REPLY", "NEWSTYLE.OPT_GO",
      "DEAD"},
     "server has no export named ''"},
    {"TLS required, STARTTLS refused",
     refuses_everything,
     [](Handle& h) { ASSERT_TRUE(h.set_tls(TlsMode::Require)); },
     {"HANDSHAKE", "NEWSTYLE.OPT_STARTTLS", "DEAD"},
     "server refused TLS"},
    {"TLS allowed, STARTTLS refused",
     refuses_everything,
     [](Handle& h) { ASSERT_TRUE(h.set_tls(TlsMode::Allow)); },
     {"HANDSHAKE", "NEWSTYLE.OPT_STARTTLS", "NEWSTYLE.OPT_EXTENDED_HEADERS", "NEWSTYLE.OPT_STRUCTURED_REPLY",
      "NEWSTYLE.OPT_GO", "DEAD"},
     "server has no export named ''"},
    {"opt mode stops before GO",
     [](FakeServer& s) { s.newstyle(4096, 0); },
     [](Handle& h) { ASSERT_TRUE(h.set_opt_mode(true)); },
     {"HANDSHAKE", "NEWSTYLE.OPT_EXTENDED_HEADERS", "NEWSTYLE.OPT_STRUCTURED_REPLY", "NEGOTIATING"},
     nullptr},
};

TEST(NegotiationTest, DebugLogNamesEachState) {
  for (const auto& c : kCases) {
    SCOPED_TRACE(c.name);
    FakeServer server(c.server);
    Handle h;
    h.set_debug(true);
    c.setup(h);
    ::testing::internal::CaptureStderr();
    Status st = h.connect_socket(server.client_fd);
    std::string log = ::testing::internal::GetCapturedStderr();
    EXPECT_EQ(states_entered(log), c.states) << log;
    if (c.error_part) {
      ASSERT_FALSE(st);
      EXPECT_NE(h.get_error().find(c.error_part), std::string::npos) << h.get_error();
    } else {
      ASSERT_TRUE(st) << h.get_error();
    }
  }
}

// The outcome behind the state path: refused structured replies leave none, and no contexts.
TEST(NegotiationTest, RefusedStructuredRepliesLeaveNoMetaContexts) {
  FakeServer server([](FakeServer& s) { s.newstyle(4096, 0, false); });
  Handle h;
  ASSERT_TRUE(h.add_meta_context("base:allocation"));
  ASSERT_TRUE(h.connect_socket(server.client_fd)) << h.get_error();
  EXPECT_FALSE(*h.get_structured_replies_negotiated());
  EXPECT_FALSE(*h.can_meta_context("base:allocation"));
  EXPECT_FALSE(
      h.block_status_64(512, 0, [](std::string_view, uint64_t, std::span<const Extent>, int*) { return 0; }));
  EXPECT_EQ(h.get_errno(), ENOTSUP);
}

// Each opt_* call is its option's state, entered from NEGOTIATING and back (or on to READY).
TEST(NegotiationTest, OptCallsEnterTheirOptionStates) {
  FakeServer server([](FakeServer& s) { s.newstyle(4096, 0); });
  Handle h;
  h.set_debug(true);
  ASSERT_TRUE(h.set_opt_mode(true));
  ASSERT_TRUE(h.add_meta_context("base:allocation"));
  ASSERT_TRUE(h.connect_socket(server.client_fd)) << h.get_error();
  ::testing::internal::CaptureStderr();
  auto agreed = h.opt_structured_reply();
  Status go = h.opt_go();
  std::string log = ::testing::internal::GetCapturedStderr();
  ASSERT_TRUE(agreed) << h.get_error();
  EXPECT_TRUE(*agreed);
  ASSERT_TRUE(go) << h.get_error();
  const std::vector<std::string> want = {"NEWSTYLE.OPT_STRUCTURED_REPLY", "NEGOTIATING",
                                         "NEWSTYLE.OPT_SET_META_CONTEXT", "NEWSTYLE.OPT_GO", "READY"};
  EXPECT_EQ(states_entered(log), want) << log;
  EXPECT_TRUE(*h.can_meta_context("base:allocation"));
  EXPECT_STREQ(h.state_name(), "READY");
}

}  // namespace
}  // namespace nbd::client
