// SPDX-License-Identifier: BSD-3-Clause
// A whole Session in-process (fake_client_for_test.h): the newstyle handshake, option replies
// and the transmission phase, byte for byte, over a fake disk. No processes, no sockets on disk.
#include <gtest/gtest.h>

#include <algorithm>
#include <ostream>
#include <string>

#include "fixtures/fake_disk.h"
#include "server/backend.h"
#include "server/fake_client_for_test.h"

namespace nbd::server {
namespace {

using namespace nbd::protocol;
using nbd::testing::FakeDisk;
using testing::Bytes;
using testing::FakeClient;

constexpr uint64_t kDiskSize = 64 * 1024;

// The plugin: every connection opens the same fake disk.
class DiskPlugin final : public Plugin {
 public:
  explicit DiskPlugin(FakeDisk& d) : d_(d) {}
  Result<std::unique_ptr<Connection>> open(const OpenParams&) override { return d_.open(); }

 private:
  FakeDisk& d_;
};

const PluginInfo kInfo{
    .name = "disk", .description = "", .magic_config_key = "", .params = {}, .factory = nullptr};

// The disk holds byte (i % 251) at offset i, so any range read has known contents.
struct Served {
  Served() : disk(kDiskSize) {
    for (size_t i = 0; i < kDiskSize; ++i) disk.bytes()[i] = std::byte(i % 251);
    disk.allocate(0, kDiskSize);
    backend = std::make_unique<Backend>(kInfo, std::make_unique<DiskPlugin>(disk),
                                        std::vector<std::pair<const FilterInfo*, std::unique_ptr<Filter>>>{});
  }
  FakeDisk disk;
  std::unique_ptr<Backend> backend;
};

Bytes pattern(uint64_t offset, size_t n) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = std::byte((offset + i) % 251);
  return b;
}

Bytes text(std::string_view s) {
  Bytes b(s.size());
  std::transform(s.begin(), s.end(), b.begin(), [](char c) { return std::byte(c); });
  return b;
}

// ---- handshake: each option after the greeting, and the replies it gets ----

struct OptionCase {
  const char* name;
  uint32_t option;
  Bytes payload;
  std::vector<uint32_t> replies;  // reply types, up to the final one
};
void PrintTo(const OptionCase& c, std::ostream* os) { *os << c.name; }

const OptionCase kOptionCases[] = {
    {"List", uint32_t(Option::List), {}, {kRepServer, kRepAck}},
    {"ListWithPayloadIsInvalid", uint32_t(Option::List), text("x"), {kRepErrInvalid}},
    {"UnknownOptionIsUnsupported", 99, {}, {kRepErrUnsup}},
    {"StartTlsWithTlsOffIsPolicy", uint32_t(Option::StartTls), {}, {kRepErrPolicy}},
    {"StartTlsWithPayloadIsInvalid", uint32_t(Option::StartTls), text("x"), {kRepErrInvalid}},
    {"StructuredReply", uint32_t(Option::StructuredReply), {}, {kRepAck}},
    {"StructuredReplyWithPayloadIsInvalid", uint32_t(Option::StructuredReply), text("x"), {kRepErrInvalid}},
    {"InfoOfTheDefaultExport",
     uint32_t(Option::Info),
     encode_info_request({}),
     {kRepInfo, kRepAck}},  // no layer sets block sizes: no NBD_INFO_BLOCK_SIZE, as upstream
    {"InfoWithABadPayloadIsInvalid", uint32_t(Option::Info), text("xy"), {kRepErrInvalid}},
    {"ListMetaContext",
     uint32_t(Option::ListMetaContext),
     encode_meta_context_request({}),
     {kRepMetaContext, kRepAck}},
};

class SessionOption : public ::testing::TestWithParam<OptionCase> {};

TEST_P(SessionOption, GetsTheRepliesTheSpecAsksFor) {
  const OptionCase& c = GetParam();
  Served s;
  FakeClient client(*s.backend);
  auto hflags = client.greet();
  ASSERT_TRUE(hflags);
  EXPECT_EQ(*hflags, kFlagFixedNewstyle | kFlagNoZeroes);
  client.send_option(c.option, c.payload);
  EXPECT_EQ(client.option_reply_types(), c.replies);
  // The handshake goes on after every one of these: a GO still succeeds.
  client.send_option(uint32_t(Option::Go), encode_info_request({}));
  EXPECT_EQ(client.option_reply_types(), (std::vector<uint32_t>{kRepInfo, kRepAck}));
}

INSTANTIATE_TEST_SUITE_P(Cases, SessionOption, ::testing::ValuesIn(kOptionCases),
                         [](const auto& tc) { return std::string(tc.param.name); });

TEST(Session, GoReportsTheExportSizeAndFlags) {
  Served s;
  FakeClient client(*s.backend);
  auto info = client.go();
  ASSERT_TRUE(info);
  EXPECT_EQ(info->first, kDiskSize);
  EXPECT_TRUE(info->second & kFlagHasFlags);
  EXPECT_FALSE(info->second & kFlagReadOnly);
  EXPECT_TRUE(info->second & kFlagSendFlush);
  EXPECT_FALSE(info->second & kFlagSendDf) << "DF needs structured replies";
}

TEST(Session, ListNamesTheDefaultExport) {
  Served s;
  FakeClient client(*s.backend);
  ASSERT_TRUE(client.greet());
  client.send_option(uint32_t(Option::List));
  auto r = client.option_reply();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->type, kRepServer);
  auto server = decode_rep_server(r->payload);
  ASSERT_TRUE(server);
  EXPECT_EQ(server->name, "");
}

TEST(Session, AnAbortedHandshakeIsAckedAndClosed) {
  Served s;
  FakeClient client(*s.backend);
  ASSERT_TRUE(client.greet());
  client.send_option(uint32_t(Option::Abort));
  EXPECT_EQ(client.option_reply_types(), std::vector<uint32_t>{kRepAck});
  EXPECT_TRUE(client.closed());
}

// ---- transmission: requests after GO on one connection, and the replies they get ----

struct Step {
  Request request;
  Bytes payload;   // a write's data
  uint32_t error;  // the NBD error expected (0: success)
  Bytes data;      // a read's expected bytes
};

struct TransmissionCase {
  const char* name;
  bool structured;
  std::vector<Step> steps;
};
void PrintTo(const TransmissionCase& c, std::ostream* os) { *os << c.name; }

Request req(Command c, uint64_t cookie, uint64_t offset, uint64_t length, uint16_t flags = 0) {
  return Request{.flags = flags, .type = uint16_t(c), .cookie = cookie, .offset = offset, .length = length};
}

const TransmissionCase kTransmissionCases[] = {
    {"ReadKnownBytes", false, {{req(Command::Read, 1, 1000, 300), {}, 0, pattern(1000, 300)}}},
    {"ReadKnownBytesStructured", true, {{req(Command::Read, 1, 1000, 300), {}, 0, pattern(1000, 300)}}},
    {"WriteThenRead",
     false,
     {{req(Command::Write, 1, 4096, 5), text("hello"), 0, {}},
      {req(Command::Read, 2, 4094, 9),
       {},
       0,
       [] {
         Bytes b = pattern(4094, 9);
         std::copy_n(text("hello").begin(), 5, b.begin() + 2);
         return b;
       }()}}},
    {"ReadPastTheEndIsEinval", false, {{req(Command::Read, 1, kDiskSize - 100, 200), {}, kEINVAL, {}}}},
    {"ReadPastTheEndIsEinvalStructured", true, {{req(Command::Read, 1, kDiskSize, 1), {}, kEINVAL, {}}}},
    {"ReadAtAnOverflowingOffsetIsEinval",
     false,
     {{req(Command::Read, 1, ~uint64_t(0) - 10, 512), {}, kEINVAL, {}}}},
    {"AnInvalidRequestLeavesTheConnectionUsable",
     false,
     {{req(Command::Read, 1, kDiskSize, 512), {}, kEINVAL, {}},
      {req(Command::Read, 2, 0, 16), {}, 0, pattern(0, 16)}}},
    {"DfReadWithoutStructuredRepliesIsEinval",
     false,
     {{req(Command::Read, 1, 0, 16, kCmdFlagDf), {}, kEINVAL, {}}}},
    {"Flush", false, {{req(Command::Flush, 1, 0, 0), {}, 0, {}}}},
    // Commands without data get simple replies even with structured replies, errors included.
    {"WritePastTheEndIsEnospcStructured",
     true,
     {{req(Command::Write, 1, kDiskSize - 2, 4), text("abcd"), kENOSPC, {}}}},
    {"FlushStructured", true, {{req(Command::Flush, 1, 0, 0), {}, 0, {}}}},
};

class SessionTransmission : public ::testing::TestWithParam<TransmissionCase> {};

TEST_P(SessionTransmission, RepliesWithTheRightBytesAndErrors) {
  const TransmissionCase& c = GetParam();
  Served s;
  FakeClient client(*s.backend);
  ASSERT_TRUE(client.go(c.structured));
  for (const Step& step : c.steps) {
    SCOPED_TRACE("cookie " + std::to_string(step.request.cookie));
    client.send_request(step.request, step.payload);
    auto r = client.reply(step.error ? 0 : step.data.size());
    ASSERT_TRUE(r) << "no reply";
    EXPECT_EQ(r->header.cookie, step.request.cookie);
    EXPECT_EQ(r->error, step.error);
    // With structured replies a read is answered in chunks, its errors too; else simply.
    bool read = step.request.type == uint16_t(Command::Read);
    EXPECT_EQ(r->header.magic, c.structured && read ? kStructuredReplyMagic : kSimpleReplyMagic);
    if (step.error) continue;
    if (r->header.magic == kSimpleReplyMagic) {
      EXPECT_EQ(r->payload, step.data);
      continue;
    }
    // One final chunk: OFFSET_DATA (offset, then the data) for a read, NONE never (no extended headers).
    EXPECT_TRUE(r->header.flags & kReplyFlagDone);
    ASSERT_EQ(r->header.type, kReplyTypeOffsetData);
    ASSERT_EQ(r->payload.size(), 8 + step.data.size());
    EXPECT_EQ(get_u64(r->payload.data()), step.request.offset);
    EXPECT_EQ(Bytes(r->payload.begin() + 8, r->payload.end()), step.data);
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, SessionTransmission, ::testing::ValuesIn(kTransmissionCases),
                         [](const auto& tc) { return std::string(tc.param.name); });

TEST(Session, AWriteReachesTheDisk) {
  Served s;
  {
    FakeClient client(*s.backend);
    ASSERT_TRUE(client.go());
    client.send_request(req(Command::Write, 1, 100, 5), text("hello"));
    auto r = client.reply();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->error, 0u);
  }  // joined: the disk the server thread wrote is safe to read
  EXPECT_EQ(Bytes(s.disk.bytes().begin() + 100, s.disk.bytes().begin() + 105), text("hello"));
  EXPECT_EQ(s.disk.bytes()[99], pattern(99, 1)[0]);
  EXPECT_EQ(s.disk.bytes()[105], pattern(105, 1)[0]);
}

// ---- bytes that break the protocol: the server hangs up without a reply ----

struct ClosingCase {
  const char* name;
  bool after_go;  // false: sent in place of the first option
  Bytes bytes;
};
void PrintTo(const ClosingCase& c, std::ostream* os) { *os << c.name; }

Bytes bad_request_magic() {
  Bytes b(kRequestSize);
  encode_request(b.data(), req(Command::Read, 1, 0, 16), false);
  put_u32(b.data(), 0x12345678);
  return b;
}

Bytes bad_option_magic() {
  Bytes b;
  encode_option_header(b, uint32_t(Option::List), 0);
  put_u64(b.data(), 0x1122334455667788);
  return b;
}

Bytes too_long_option() {
  Bytes b;
  encode_option_header(b, uint32_t(Option::List), kMaxOptionLength + 1);
  return b;
}

Bytes disconnect() {
  Bytes b(kRequestSize);
  encode_request(b.data(), req(Command::Disc, 1, 0, 0), false);
  return b;
}

const ClosingCase kClosingCases[] = {
    {"BadRequestMagic", true, bad_request_magic()},
    {"BadOptionMagic", false, bad_option_magic()},
    {"TooLongOption", false, too_long_option()},
    {"Disconnect", true, disconnect()},
};

class SessionCloses : public ::testing::TestWithParam<ClosingCase> {};

TEST_P(SessionCloses, WithoutAReply) {
  const ClosingCase& c = GetParam();
  Served s;
  FakeClient client(*s.backend);
  ASSERT_TRUE(c.after_go ? client.go().has_value() : client.greet().has_value());
  client.send(c.bytes);
  EXPECT_TRUE(client.closed());
}

INSTANTIATE_TEST_SUITE_P(Cases, SessionCloses, ::testing::ValuesIn(kClosingCases),
                         [](const auto& tc) { return std::string(tc.param.name); });

// Negative for the table above: a good request after GO is answered, not closed.
TEST(Session, AGoodRequestIsAnsweredNotClosed) {
  Served s;
  FakeClient client(*s.backend);
  ASSERT_TRUE(client.go());
  client.send_request(req(Command::Read, 5, 0, 16));
  auto r = client.reply(16);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->header.cookie, 5u);
  EXPECT_EQ(r->payload, pattern(0, 16));
}

}  // namespace
}  // namespace nbd::server
