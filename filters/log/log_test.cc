// SPDX-License-Identifier: BSD-3-Clause
// log filter against the in-memory fake disk: the exact lines (timestamps stripped) that
// upstream's log filter writes for the same requests.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "fixtures/fake_disk.h"
#include "log_output.h"

namespace nbd::filters {
extern const FilterInfo log_filter_info;
namespace {

using namespace nbd::testing;  // FakeDisk, FakeCall, configure, open_over, bytes_of

std::string temp_path(const char* name) { return ::testing::TempDir() + name; }

// True if l starts with "YYYY-MM-DD HH:MM:SS.UUUUUU " (no std::regex: GCC 12 warns inside it
// under sanitizers).
bool has_stamp(const std::string& l) {
  const std::string shape = "dddd-dd-dd dd:dd:dd.dddddd ";
  if (l.size() < shape.size()) return false;
  for (size_t i = 0; i < shape.size(); ++i)
    if (shape[i] == 'd' ? !std::isdigit(static_cast<unsigned char>(l[i])) : l[i] != shape[i]) return false;
  return true;
}

// The file's lines without their timestamp, which must be there.
std::vector<std::string> log_lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) {
    EXPECT_TRUE(has_stamp(l)) << l;
    lines.push_back(l.substr(std::min<size_t>(l.size(), 27)));
  }
  return lines;
}

TEST(LogFilter, LogsConnectRequestsAndDisconnectLikeUpstream) {
  std::string path = temp_path("log_filter_requests.log");
  FakeDisk disk(1 << 20);
  disk.allocate(0, 0x8000);
  disk.caps().block_size = {1, 512, 0xffffffff};
  auto f = log_filter_info.factory();
  ASSERT_TRUE(configure(*f, {{"logfile", path}}));
  OpenParams p{.export_name = ""};
  auto c = open_over(*f, disk, p);
  ASSERT_TRUE(c);
  std::vector<std::byte> buf(512);
  ASSERT_TRUE((*c)->pwrite(buf, 0, kFua));
  ASSERT_TRUE((*c)->pread(buf, 0, 0));
  ASSERT_TRUE((*c)->zero(512, 1024, kMayTrim | kFastZero));
  ASSERT_TRUE((*c)->trim(512, 4096, kFua));
  ASSERT_TRUE((*c)->flush(0));
  ASSERT_TRUE((*c)->cache(512, 0, 0));
  ExtentList e(0, 0x10000);
  ASSERT_TRUE((*c)->extents(0x10000, 0, 0, e));
  disk.fail_next("pread", EIO);
  EXPECT_FALSE((*c)->pread(buf, 0, 0));
  c->reset();
  std::vector<std::string> want = {
      "connection=1 Connect export=\"\" tls=0 size=0x100000 minsize=0x1 prefsize=0x200 maxsize=0xffffffff "
      "write=1 flush=1 rotational=0 trim=1 zero=2 fua=2 extents=1 cache=2 fast_zero=1",
      "connection=1 Write id=1 offset=0x0 count=0x200 fua=1 ...",
      "connection=1 ...Write id=1 return=0",
      "connection=1 Read id=2 offset=0x0 count=0x200 ...",
      "connection=1 ...Read id=2 return=0",
      "connection=1 Zero id=3 offset=0x400 count=0x200 trim=1 fua=0 fast=1 ...",
      "connection=1 ...Zero id=3 return=0",
      "connection=1 Trim id=4 offset=0x1000 count=0x200 fua=1 ...",
      "connection=1 ...Trim id=4 return=0",
      "connection=1 Flush id=5 ...",
      "connection=1 ...Flush id=5 return=0",
      "connection=1 Cache id=6 offset=0x0 count=0x200 ...",
      "connection=1 ...Cache id=6 return=0",
      "connection=1 Extents id=7 offset=0x0 count=0x10000 req_one=0 ...",
      "connection=1 ...Extents id=7 extents=(0x0 0x400 \"\" 0x400 0x200 \"hole,zero\" 0x600 0xa00 \"\" "
      "0x1000 0x200 \"hole,zero\" 0x1200 0x6e00 \"\" 0x8000 0x8000 \"hole,zero\") return=0",
      "connection=1 Read id=8 offset=0x0 count=0x200 ...",
      "connection=1 ...Read id=8 return=-1 error=EIO",
      "connection=1 Disconnect transactions=8",
  };
  EXPECT_EQ(log_lines(path), want);
}

TEST(LogFilter, ServerEventsAndAppend) {
  std::string path = temp_path("log_filter_events.log");
  { std::ofstream(path) << "2000-01-01 00:00:00.000000 old line\n"; }
  auto f = log_filter_info.factory();
  ASSERT_TRUE(configure(*f, {{"logfile", path}, {"logappend", "true"}}));
  // The server's model (the strictest in the stack) is logged, not the filter's own parallel.
  ASSERT_TRUE(f->get_ready(ThreadModel::SerializeRequests));
  ASSERT_TRUE(f->after_fork());
  ASSERT_TRUE(f->preconnect(Peer{}, true));
  NextExports next{[](bool, bool) -> Result<std::vector<ExportInfo>> {
                     return std::vector<ExportInfo>{{"one", "first"}, {"t w$o\"", ""}};
                   },
                   [](bool, bool) -> Result<std::string> { return std::string(); }};
  ASSERT_TRUE(f->list_exports(false, false, next));
  FakeDisk disk(3);
  auto& caps = disk.caps();
  caps.write = caps.flush = caps.trim = caps.zero = caps.fast_zero = caps.extents = false;
  caps.fua = FuaMode::None;
  caps.cache = CacheMode::None;
  OpenParams p{.export_name = "t w$o\"", .is_tls = true};
  ASSERT_TRUE(open_over(*f, disk, p));
  std::vector<std::string> want = {
      "old line",
      "Ready thread_model=2",
      "Fork",
      "Preconnect id=1 readonly=1 ...",
      "...Preconnect id=1 return=0",
      "ListExports id=1 readonly=0 tls=0 ...",
      "...ListExports id=1 exports=(one \"t w\\$o\\\"\") return=0",
      "connection=1 Connect export=\"t w\\$o\\\"\" tls=1 size=0x3 minsize=0x0 prefsize=0x0 maxsize=0x0 "
      "write=0 flush=0 rotational=0 trim=0 zero=0 fua=0 extents=0 cache=0 fast_zero=0",
      "connection=1 Disconnect transactions=0",
  };
  EXPECT_EQ(log_lines(path), want);
}

TEST(LogFilter, WithoutLogfileAddsNoLayer) {
  FakeDisk disk(100);
  auto f = log_filter_info.factory();
  ASSERT_TRUE(configure(*f, {}));
  // The filter hands back the very connection below it: no layer of its own.
  Connection* below = nullptr;
  auto c = f->open({}, [&](const OpenParams&) -> Result<std::unique_ptr<Connection>> {
    auto d = disk.open();
    below = d.get();
    return d;
  });
  ASSERT_TRUE(c);
  EXPECT_EQ(c->get(), below);
}

TEST(LogFilter, LogscriptGetsFieldsAsShellVariables) {
  std::string out = temp_path("log_filter_script.out");
  std::remove(out.c_str());
  auto f = log_filter_info.factory();
  ASSERT_TRUE(configure(*f, {{"logscript",
                              "echo \"$type $act ${connection:-} ${id:-} ${offset:-} ${return:-} "
                              "${error:-} ${export:-} ${extents[@]:-}\" >> " +
                                  out}}));
  FakeDisk disk(100);
  OpenParams p{.export_name = "a b"};
  auto c = open_over(*f, disk, p);
  disk.fail_next("trim", ENOSPC);
  EXPECT_FALSE((*c)->trim(10, 16, 0));
  ExtentList e(0, 100);
  ASSERT_TRUE((*c)->extents(100, 0, kReqOne, e));
  c->reset();
  std::ifstream in(out);
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(ss.str(),
            "PRINT Connect 1     a b 1\n"
            "ENTER Trim 1 1 0x10    \n"
            "LEAVE Trim 1 1  -1 ENOSPC  \n"
            "ENTER Extents 1 2 0x0    \n"
            "LEAVE Extents 1 2  0   0x0 0x64 hole,zero\n"
            "PRINT Disconnect 1      \n");
}

TEST(LogFilter, RejectsBadValues) {
  auto f = log_filter_info.factory();
  EXPECT_FALSE(f->config("logappend", "perhaps"));
  ASSERT_TRUE(*f->config("logfile", "/nonexistent-dir/x.log"));
  auto r = f->config_complete();
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("logfile=/nonexistent-dir/x.log"), std::string::npos);
  EXPECT_FALSE(*f->config("file", "x"));
}

TEST(LogFilter, ShellQuoting) {
  using log_filter::shell_quote;
  EXPECT_EQ(shell_quote(""), "\"\"");
  EXPECT_EQ(shell_quote("disk-1.img"), "disk-1.img");
  EXPECT_EQ(shell_quote("a b"), "\"a b\"");
  EXPECT_EQ(shell_quote("$`\\\""), "\"\\$\\`\\\\\\\"\"");
}

}  // namespace
}  // namespace nbd::filters
