// SPDX-License-Identifier: BSD-3-Clause
// run_process against real programs: large data through a pipe both ways without deadlock,
// a reader that stops early, exact-size output, environment, scripts without "#!".
#include "plugins/sh/subprocess.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

namespace nbd::script {
namespace {

std::vector<std::byte> pattern(size_t n) {
  std::vector<std::byte> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = std::byte((i * 7 + i / 4096) & 0xff);
  return v;
}

TEST(Subprocess, LargeDataBothWaysDoesNotDeadlock) {
  // cat writes back while we are still writing: both pipes fill far beyond their 64 KiB.
  auto in = pattern(8 << 20);
  std::vector<std::byte> out(in.size());
  std::span<std::byte> out_span(out);
  ProcessRequest req{{"/bin/cat"}, {}, in, &out_span};
  auto r = run_process(req);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->wait_status, 0);
  EXPECT_EQ(r->out_bytes, in.size());
  EXPECT_EQ(out, in);
}

TEST(Subprocess, ReaderStoppingEarlyIsNotAnError) {
  auto in = pattern(4 << 20);
  ProcessRequest req{{"/bin/sh", "-c", "head -c 10 >/dev/null; echo done"}, {}, in, nullptr};
  auto r = run_process(req);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->wait_status, 0);
  EXPECT_EQ(r->out, "done\n");
}

TEST(Subprocess, CountsOutputBeyondTheBuffer) {
  std::vector<std::byte> out(512);
  std::span<std::byte> out_span(out);
  ProcessRequest req{{"/bin/sh", "-c", "head -c 1000 /dev/zero"}, {}, {}, &out_span};
  auto r = run_process(req);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->out_bytes, 1000u);
}

TEST(Subprocess, EnvironmentStderrAndStatus) {
  setenv("NBD_SUBPROCESS_TEST_KEEP", "kept", 1);
  ProcessRequest req{{"/bin/sh", "-c", "echo $tmpdir $NBD_SUBPROCESS_TEST_KEEP; echo 'EIO oops' >&2; exit 7"},
                     {"tmpdir=/x/y"},
                     {},
                     nullptr};
  auto r = run_process(req);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->out, "/x/y kept\n");
  EXPECT_EQ(r->err, "EIO oops\n");
  ASSERT_TRUE(WIFEXITED(r->wait_status));
  EXPECT_EQ(WEXITSTATUS(r->wait_status), 7);
}

TEST(Subprocess, ScriptWithoutShebangRunsUnderSh) {
  char dir[] = "/tmp/nbdsubprocXXXXXX";
  ASSERT_TRUE(mkdtemp(dir));
  std::string path = std::string(dir) + "/noshebang";
  std::ofstream(path) << "echo \"args:$1:$2\"\n";
  chmod(path.c_str(), 0700);
  ProcessRequest req{{path, "one", "two"}, {}, {}, nullptr};
  auto r = run_process(req);
  unlink(path.c_str());
  rmdir(dir);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->out, "args:one:two\n");
}

TEST(Subprocess, MissingProgramIsAnError) {
  ProcessRequest req{{"/nonexistent/program"}, {}, {}, nullptr};
  auto r = run_process(req);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().errnum, ENOENT);
  EXPECT_NE(r.error().message.find("/nonexistent/program"), std::string::npos);
}

}  // namespace
}  // namespace nbd::script
