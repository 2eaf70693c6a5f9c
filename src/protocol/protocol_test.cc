// SPDX-License-Identifier: BSD-3-Clause
// Table-driven encode/decode tests for every NBD message in include/nbd/protocol.h, with the
// exact bytes from doc/proto.md, and negative cases for every decoder.
#include "nbd/protocol.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace nbd::protocol {
namespace {

std::vector<std::byte> hex(const std::string& h) {
  std::vector<std::byte> out;
  for (size_t i = 0; i + 1 < h.size();) {
    if (h[i] == ' ') {
      ++i;
      continue;
    }
    out.push_back(std::byte(std::stoi(h.substr(i, 2), nullptr, 16)));
    i += 2;
  }
  return out;
}

TEST(Protocol, NewstyleHandshake) {
  EXPECT_EQ(encode_newstyle_handshake(kFlagFixedNewstyle | kFlagNoZeroes),
            hex("4e42444d41474943 49484156454f5054 0003"));
}

TEST(Protocol, OldstyleHandshakeRoundTrip) {
  auto b = encode_oldstyle_handshake(0x100000, kFlagHasFlags | kFlagReadOnly);
  ASSERT_EQ(b.size(), kOldstyleHandshakeSize);
  auto d = decode_oldstyle_handshake(b);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->export_size, 0x100000u);
  EXPECT_EQ(d->flags, 3u);
  b[15] = std::byte{0};  // corrupt the cliserv magic (its last byte is 0x53)
  EXPECT_FALSE(decode_oldstyle_handshake(b));
  EXPECT_FALSE(decode_oldstyle_handshake(std::span(b).first(100)));
}

TEST(Protocol, OptionHeader) {
  std::vector<std::byte> b;
  encode_option_header(b, uint32_t(Option::Go), 7);
  EXPECT_EQ(b, hex("49484156454f5054 00000007 00000007"));
  auto h = decode_option_header(b);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->option, 7u);
  EXPECT_EQ(h->length, 7u);
  b[0] = std::byte{0};
  EXPECT_FALSE(decode_option_header(b));
}

TEST(Protocol, OptionReply) {
  std::vector<std::byte> b;
  auto payload = hex("0102");
  encode_option_reply(b, uint32_t(Option::List), kRepServer, payload);
  EXPECT_EQ(b, hex("0003e889045565a9 00000003 00000002 00000002 0102"));
  auto h = decode_option_reply_header(b);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->type, kRepServer);
  EXPECT_EQ(h->length, 2u);
  EXPECT_FALSE(decode_option_reply_header(std::span(b).first(19)));
}

TEST(Protocol, ExportNameReply) {
  EXPECT_EQ(encode_export_name_reply(512, 0x0003, true), hex("0000000000000200 0003"));
  EXPECT_EQ(encode_export_name_reply(512, 0x0003, false).size(), 10u + 124u);
}

TEST(Protocol, InfoRequestRoundTripAndErrors) {
  InfoRequest r{"disk", {kInfoName, kInfoBlockSize}};
  auto b = encode_info_request(r);
  EXPECT_EQ(b, hex("00000004 6469736b 0002 0001 0003"));
  auto d = decode_info_request(b);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->export_name, "disk");
  EXPECT_EQ(d->info_requests, (std::vector<uint16_t>{1, 3}));
  // Claims 2 info requests but carries 1.
  EXPECT_FALSE(decode_info_request(hex("00000004 6469736b 0002 0001")));
  // Name length past the end.
  EXPECT_FALSE(decode_info_request(hex("000000ff 6469")));
}

struct InfoCase {
  std::vector<std::byte> bytes;
  uint16_t type;
};

TEST(Protocol, InfoPayloads) {
  EXPECT_EQ(encode_info_export(1024, 0x0001), hex("0000 0000000000000400 0001"));
  EXPECT_EQ(encode_info_name("a"), hex("0001 61"));
  EXPECT_EQ(encode_info_description("b"), hex("0002 62"));
  EXPECT_EQ(encode_info_block_size({1, 4096, 33554432}), hex("0003 00000001 00001000 02000000"));
  const InfoCase cases[] = {
      {encode_info_export(1024, 1), kInfoExport},
      {encode_info_name("disk"), kInfoName},
      {encode_info_description("desc"), kInfoDescription},
      {encode_info_block_size({512, 4096, 1 << 25}), kInfoBlockSize},
  };
  for (const auto& c : cases) {
    auto d = decode_info(c.bytes);
    ASSERT_TRUE(d) << c.type;
    EXPECT_EQ(d->type, c.type);
  }
  EXPECT_EQ(decode_info(cases[0].bytes)->export_size, 1024u);
  EXPECT_EQ(decode_info(cases[1].bytes)->text, "disk");
  EXPECT_EQ(decode_info(cases[3].bytes)->block_size.preferred, 4096u);
  EXPECT_FALSE(decode_info(hex("0000 00000000")));           // short INFO_EXPORT
  EXPECT_FALSE(decode_info(hex("0003 00000001 00001000")));  // short BLOCK_SIZE
  EXPECT_FALSE(decode_info(hex("00")));
}

TEST(Protocol, RepServer) {
  auto b = encode_rep_server("x", "desc");
  EXPECT_EQ(b, hex("00000001 78 64657363"));
  auto d = decode_rep_server(b);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->name, "x");
  EXPECT_EQ(d->description, "desc");
  EXPECT_FALSE(decode_rep_server(hex("00000009 78")));
}

TEST(Protocol, MetaContextRequest) {
  MetaContextRequest r{"", {"base:allocation"}};
  auto b = encode_meta_context_request(r);
  auto d = decode_meta_context_request(b);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->queries, std::vector<std::string>{"base:allocation"});
  EXPECT_FALSE(decode_meta_context_request(hex("00000000 ffffffff")));  // absurd count
  auto trailing = b;
  trailing.push_back(std::byte{0});
  EXPECT_FALSE(decode_meta_context_request(trailing));
  auto m = encode_rep_meta_context(1, "base:allocation");
  auto dm = decode_rep_meta_context(m);
  ASSERT_TRUE(dm);
  EXPECT_EQ(dm->id, 1u);
  EXPECT_EQ(dm->name, "base:allocation");
}

struct RequestCase {
  bool extended;
  Request r;
  std::string bytes;
};

TEST(Protocol, Requests) {
  const RequestCase cases[] = {
      {false,
       {kCmdFlagFua, uint16_t(Command::Write), 0x1122334455667788, 4096, 512},
       "25609513 0001 0001 1122334455667788 0000000000001000 00000200"},
      {false,
       {0, uint16_t(Command::Read), 1, 0, 0xffffffff},
       "25609513 0000 0000 0000000000000001 0000000000000000 ffffffff"},
      {true,
       {kCmdFlagReqOne, uint16_t(Command::BlockStatus), 2, 1ull << 40, 1ull << 33},
       "21e41c71 0008 0007 0000000000000002 0000010000000000 0000000200000000"},
  };
  for (const auto& c : cases) {
    std::byte buf[kExtendedRequestSize];
    size_t n = encode_request(buf, c.r, c.extended);
    EXPECT_EQ(std::vector<std::byte>(buf, buf + n), hex(c.bytes));
    auto d = decode_request(std::span(buf, n), c.extended);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->flags, c.r.flags);
    EXPECT_EQ(d->type, c.r.type);
    EXPECT_EQ(d->cookie, c.r.cookie);
    EXPECT_EQ(d->offset, c.r.offset);
    EXPECT_EQ(d->length, c.r.length);
    // The other header style's magic is refused.
    EXPECT_FALSE(decode_request(std::span(buf, n), !c.extended));
    EXPECT_FALSE(decode_request(std::span(buf, n - 1), c.extended));
  }
}

TEST(Protocol, SimpleReply) {
  std::byte buf[kSimpleReplySize];
  encode_simple_reply(buf, 0xabcdef, kEINVAL);
  EXPECT_EQ(std::vector<std::byte>(buf, buf + 16), hex("67446698 00000016 0000000000abcdef"));
  auto h = decode_reply_header(std::span(buf, 16));
  ASSERT_TRUE(h);
  EXPECT_EQ(h->error, kEINVAL);
  EXPECT_EQ(h->cookie, 0xabcdefu);
}

TEST(Protocol, ChunkHeaders) {
  std::byte buf[kExtendedReplySize];
  size_t n = encode_chunk_header(buf, false, kReplyFlagDone, kReplyTypeOffsetData, 9, 0, 8 + 512);
  EXPECT_EQ(std::vector<std::byte>(buf, buf + n), hex("668e33ef 0001 0001 0000000000000009 00000208"));
  auto h = decode_reply_header(std::span(buf, n));
  ASSERT_TRUE(h);
  EXPECT_EQ(h->type, kReplyTypeOffsetData);
  EXPECT_EQ(h->length, 520u);
  n = encode_chunk_header(buf, true, 0, kReplyTypeBlockStatusExt, 9, 4096, 1ull << 32);
  EXPECT_EQ(std::vector<std::byte>(buf, buf + n),
            hex("6e8a278c 0000 0006 0000000000000009 0000000000001000 0000000100000000"));
  h = decode_reply_header(std::span(buf, n));
  ASSERT_TRUE(h);
  EXPECT_EQ(h->offset, 4096u);
  EXPECT_EQ(h->length, 1ull << 32);
  EXPECT_FALSE(decode_reply_header(hex("deadbeef 0000")));
  EXPECT_FALSE(decode_reply_header(hex("6e8a278c 0000 0006")));  // truncated
  EXPECT_EQ(reply_header_size(0xdeadbeef), 0u);
}

TEST(Protocol, ErrorPayloads) {
  std::vector<std::byte> b;
  encode_error_payload(b, kEIO, "bad", std::nullopt);
  EXPECT_EQ(b, hex("00000005 0003 626164"));
  auto e = decode_error_payload(kReplyTypeError, b);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->error, kEIO);
  EXPECT_EQ(e->message, "bad");
  b.clear();
  encode_error_payload(b, kENOSPC, "", 4096);
  e = decode_error_payload(kReplyTypeErrorOffset, b);
  ASSERT_TRUE(e);
  EXPECT_EQ(*e->offset, 4096u);
  EXPECT_FALSE(decode_error_payload(kReplyTypeError, hex("00000005 0009 62")));     // message too long
  EXPECT_FALSE(decode_error_payload(kReplyTypeErrorOffset, hex("00000005 0000")));  // no offset
}

TEST(Protocol, BlockStatus) {
  const BlockDescriptor d[] = {{4096, kStateHole | kStateZero}, {512, 0}};
  std::vector<std::byte> b;
  encode_block_status(b, false, 1, d);
  EXPECT_EQ(b, hex("00000001 00001000 00000003 00000200 00000000"));
  auto p = decode_block_status(kReplyTypeBlockStatus, b);
  ASSERT_TRUE(p);
  ASSERT_EQ(p->descriptors.size(), 2u);
  EXPECT_EQ(p->descriptors[0].flags, 3u);
  b.clear();
  encode_block_status(b, true, 1, d);
  EXPECT_EQ(b, hex("00000001 00000002 0000000000001000 0000000000000003 0000000000000200 0000000000000000"));
  p = decode_block_status(kReplyTypeBlockStatusExt, b);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->descriptors[1].length, 512u);
  EXPECT_FALSE(decode_block_status(kReplyTypeBlockStatus, hex("00000001")));           // no extents
  EXPECT_FALSE(decode_block_status(kReplyTypeBlockStatus, hex("00000001 00001000")));  // half extent
  EXPECT_FALSE(decode_block_status(kReplyTypeBlockStatusExt,
                                   hex("00000001 00000002 0000000000001000 0000000000000003")));
  EXPECT_FALSE(decode_block_status(kReplyTypeOffsetData, b));
}

TEST(Protocol, BlockStatusRequestPayload) {
  auto p = decode_block_status_request_payload(hex("0000000000010000 00000001 00000002"));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->effect_length, 65536u);
  EXPECT_EQ(p->context_ids, (std::vector<uint32_t>{1, 2}));
  EXPECT_FALSE(decode_block_status_request_payload(hex("00000000000100")));
  EXPECT_FALSE(decode_block_status_request_payload(hex("0000000000010000 0001")));
}

TEST(Protocol, ErrnoMapping) {
  EXPECT_EQ(errno_to_nbd(EROFS), kEPERM);
  EXPECT_EQ(errno_to_nbd(EDQUOT), kENOSPC);
  EXPECT_EQ(errno_to_nbd(EBADF), kEIO);
  EXPECT_EQ(errno_to_nbd(EINVAL), kEINVAL);
  EXPECT_EQ(nbd_to_errno(kESHUTDOWN), ESHUTDOWN);
  EXPECT_EQ(nbd_to_errno(12345), EINVAL);
  EXPECT_STREQ(command_name(7), "NBD_CMD_BLOCK_STATUS");
  EXPECT_STREQ(option_name(11), "NBD_OPT_EXTENDED_HEADERS");
}

}  // namespace
}  // namespace nbd::protocol
