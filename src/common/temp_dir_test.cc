// SPDX-License-Identifier: BSD-3-Clause
// TempDir: private, removed with its contents by its owner only, kept on release.
#include "common/temp_dir.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

namespace nbd {
namespace {

bool exists(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0;
}

TEST(TempDir, PrivateAndRemovedWithContents) {
  std::string path;
  {
    auto d = TempDir::create("nbdtest", "/tmp");
    ASSERT_TRUE(d) << d.error().message;
    path = d->path();
    struct stat st;
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0700u);
    EXPECT_EQ(path.rfind("/tmp/nbdtest", 0), 0u);
    std::ofstream(d->file("sock")) << "x";
    ::mkdir(d->file("sub").c_str(), 0700);
    std::ofstream(d->file("sub/f")) << "y";
  }
  EXPECT_FALSE(exists(path));
}

TEST(TempDir, ChildAfterForkDoesNotRemove) {
  auto d = TempDir::create("nbdtest", "/tmp");
  ASSERT_TRUE(d);
  pid_t pid = fork();
  if (pid == 0) {
    d->remove();
    _exit(0);
  }
  waitpid(pid, nullptr, 0);
  EXPECT_TRUE(exists(d->path()));
}

TEST(TempDir, ReleaseKeepsAndBadBaseFails) {
  std::string kept;
  {
    auto d = TempDir::create("nbdtest", "/tmp");
    ASSERT_TRUE(d);
    kept = d->release();
  }
  EXPECT_TRUE(exists(kept));
  ::rmdir(kept.c_str());
  auto bad = TempDir::create("nbdtest", "/nonexistent/dir");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().errnum, ENOENT);
  EXPECT_NE(bad.error().message.find("/nonexistent/dir/nbdtest"), std::string::npos);
}

TEST(TempDir, BaseFollowsTmpdir) {
  setenv("TMPDIR", "/var/tmp", 1);
  EXPECT_EQ(temp_base(), "/var/tmp");
  setenv("TMPDIR", "", 1);
  EXPECT_EQ(temp_base("/fallback"), "/fallback");
  unsetenv("TMPDIR");
  EXPECT_EQ(temp_base(), "/tmp");
}

}  // namespace
}  // namespace nbd
