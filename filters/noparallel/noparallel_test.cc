// SPDX-License-Identifier: BSD-3-Clause
// noparallel filter: the thread model each mode imposes, multi-conn off only for connections,
// data untouched, bad modes refused.
#include <gtest/gtest.h>

#include "fixtures/fake_disk.h"

namespace nbd::filters {
extern const FilterInfo noparallel_filter_info;
namespace {

using namespace nbd::testing;  // FakeDisk, configure, open_over, bytes_of

TEST(NoparallelFilter, ModesAndMultiConn) {
  struct Case {
    std::vector<std::pair<std::string, std::string>> kv;
    ThreadModel model;
    bool multi_conn;
  };
  for (const auto& tc : std::vector<Case>{
           {{}, ThreadModel::SerializeRequests, true},
           {{{"serialize", "requests"}}, ThreadModel::SerializeRequests, true},
           {{{"serialize", "all-requests"}}, ThreadModel::SerializeAllRequests, true},
           {{{"serialize", "connections"}}, ThreadModel::SerializeConnections, false},
       }) {
    FakeDisk disk(100);
    auto f = noparallel_filter_info.factory();
    ASSERT_TRUE(configure(*f, tc.kv));
    EXPECT_EQ(f->thread_model(), tc.model);
    auto c = open_over(*f, disk);
    ASSERT_TRUE(c);
    EXPECT_EQ(*(*c)->can_multi_conn(), tc.multi_conn);
    auto data = bytes_of("serial");
    ASSERT_TRUE((*c)->pwrite(data, 10, 0));
    std::vector<std::byte> buf(6);
    ASSERT_TRUE((*c)->pread(buf, 10, 0));
    EXPECT_EQ(buf, data);
  }
}

TEST(NoparallelFilter, RefusesUnknownModes) {
  for (const char* bad : {"all", "parallel", "", "Requests"}) {
    auto f = noparallel_filter_info.factory();
    auto r = f->config("serialize", bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.error().message.find("unknown noparallel serialize mode"), std::string::npos);
  }
  EXPECT_FALSE(*noparallel_filter_info.factory()->config("size", "1M"));
}

}  // namespace
}  // namespace nbd::filters
