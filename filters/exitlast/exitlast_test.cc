// SPDX-License-Identifier: BSD-3-Clause
// exitlast filter: the shutdown request (SIGTERM to ourselves, as the server's shutdown_server
// sends) comes when the last open client closes, not before the first, not while one remains.
#include <gtest/gtest.h>

#include <atomic>
#include <csignal>

#include "fixtures/fake_disk.h"

namespace nbd::filters {
extern const FilterInfo exitlast_filter_info;
namespace {

using namespace nbd::testing;

std::atomic<int> g_terms{0};
void on_term(int) { g_terms.fetch_add(1); }

class ExitlastFilterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    struct sigaction sa {};
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, &old_);
    g_terms = 0;
  }
  void TearDown() override { sigaction(SIGTERM, &old_, nullptr); }
  struct sigaction old_ {};
};

TEST_F(ExitlastFilterTest, ShutsDownWhenTheLastClientCloses) {
  FakeDisk disk(16);
  auto f = exitlast_filter_info.factory();
  ASSERT_TRUE(configure(*f, {}));
  EXPECT_TRUE(f->preconnect(Peer{}, false));
  auto a = open_over(*f, disk);
  auto b = open_over(*f, disk);
  ASSERT_TRUE(a && b);
  auto data = bytes_of("last");
  ASSERT_TRUE((*b)->pwrite(data, 4, 0));
  std::vector<std::byte> buf(4);
  ASSERT_TRUE((*a)->pread(buf, 4, 0));
  EXPECT_EQ(buf, data);
  EXPECT_EQ(g_terms.load(), 0);
  a->reset();
  EXPECT_EQ(g_terms.load(), 0);  // b is still connected
  b->reset();
  EXPECT_EQ(g_terms.load(), 1);
}

TEST_F(ExitlastFilterTest, NothingBeforeTheFirstClientNorOnAFailedOpen) {
  auto f = exitlast_filter_info.factory();
  ASSERT_TRUE(configure(*f, {}));
  NextOpen failing = [](const OpenParams&) -> Result<std::unique_ptr<Connection>> {
    return make_error(EIO, "plugin open failed");
  };
  EXPECT_FALSE(f->open({}, failing));
  f.reset();
  EXPECT_EQ(g_terms.load(), 0);
}

TEST_F(ExitlastFilterTest, TakesNoParameters) {
  auto f = exitlast_filter_info.factory();
  EXPECT_FALSE(*f->config("size", "1"));  // passed on to the plugin
}

}  // namespace
}  // namespace nbd::filters
