// SPDX-License-Identifier: BSD-3-Clause
// Subprocess and run() against real programs: large data both ways without deadlock, early
// readers, exact-size output, environment, PATH lookup, descriptors, groups, deadlines.
#include "common/subprocess.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>

namespace nbd {
namespace {

std::vector<std::byte> pattern(size_t n) {
  std::vector<std::byte> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = std::byte((i * 7 + i / 4096) & 0xff);
  return v;
}

Program piped(std::vector<std::string> argv) {
  Program c;
  c.argv = std::move(argv);
  c.in = c.out = c.err = Redirect::pipe();
  return c;
}

Program piped_shell(std::string script) {
  Program c = Program::shell(std::move(script));
  c.in = c.out = c.err = Redirect::pipe();
  return c;
}

TEST(Subprocess, LargeDataBothWaysDoesNotDeadlock) {
  // cat writes back while we are still writing: both pipes fill far beyond their 64 KiB.
  auto in = pattern(8 << 20);
  std::vector<std::byte> out(in.size());
  std::span<std::byte> out_span(out);
  auto r = run(piped({"/bin/cat"}), {.input = in, .fixed_output = &out_span});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->wait_status, 0);
  EXPECT_EQ(r->out_bytes, in.size());
  EXPECT_EQ(out, in);
}

TEST(Subprocess, ReaderStoppingEarlyIsNotAnError) {
  auto in = pattern(4 << 20);
  auto r = run(piped_shell("head -c 10 >/dev/null; echo done"), {.input = in});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->wait_status, 0);
  EXPECT_EQ(r->out, "done\n");
}

TEST(Subprocess, CountsOutputBeyondTheBuffer) {
  std::vector<std::byte> out(512);
  std::span<std::byte> out_span(out);
  auto r = run(piped_shell("head -c 1000 /dev/zero"), {.fixed_output = &out_span});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->out_bytes, 1000u);
}

TEST(Subprocess, EnvironmentStderrAndStatus) {
  setenv("NBD_SUBPROCESS_TEST_KEEP", "kept", 1);
  setenv("NBD_SUBPROCESS_TEST_GONE", "gone", 1);
  Program c = piped_shell(
      "echo $tmpdir $NBD_SUBPROCESS_TEST_KEEP ${NBD_SUBPROCESS_TEST_GONE-unset}; echo 'EIO oops' >&2; exit "
      "7");
  c.set_env = {"tmpdir=/x/y"};
  c.unset_env = {"NBD_SUBPROCESS_TEST_GONE"};
  auto r = run(c);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->out, "/x/y kept unset\n");
  EXPECT_EQ(r->err, "EIO oops\n");
  ASSERT_TRUE(WIFEXITED(r->wait_status));
  EXPECT_EQ(WEXITSTATUS(r->wait_status), 7);
  EXPECT_EQ(describe_wait_status(r->wait_status), "exited with status 7");
  EXPECT_FALSE(exited_ok(r->wait_status));
}

TEST(Subprocess, ScriptWithoutShebangRunsUnderSh) {
  char dir[] = "/tmp/nbdsubprocXXXXXX";
  ASSERT_TRUE(mkdtemp(dir));
  std::string path = std::string(dir) + "/noshebang";
  std::ofstream(path) << "echo \"args:$1:$2\"\n";
  chmod(path.c_str(), 0700);
  auto r = run(piped({path, "one", "two"}));
  unlink(path.c_str());
  rmdir(dir);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->out, "args:one:two\n");
}

TEST(Subprocess, MissingProgramIsAnErrorOfStart) {
  for (const char* name : {"/nonexistent/program", "nbd-no-such-command-on-path"}) {
    auto r = Subprocess::start(piped({name}));
    ASSERT_FALSE(r) << name;
    EXPECT_EQ(r.error().errnum, ENOENT);
    EXPECT_NE(r.error().message.find(name), std::string::npos);
  }
  EXPECT_FALSE(Subprocess::start(Program{}));
}

TEST(Subprocess, FindsProgramsOnPath) {
  auto r = run(piped({"printf", "%s-%s", "a b", "$HOME"}));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->out, "a b-$HOME");  // no shell in between: no splitting, no expansion
}

TEST(Subprocess, PidEnvHoldsTheChildsOwnPid) {
  Program c = piped({"sh", "-c", "echo $LISTEN_PID $$"});
  c.pid_env = "LISTEN_PID";
  auto r = run(c);
  ASSERT_TRUE(r) << r.error().message;
  std::string a = r->out.substr(0, r->out.find(' ')), b = r->out.substr(r->out.find(' ') + 1);
  EXPECT_EQ(a + "\n", b);
  c.argv = {"nbd-no-such-command-on-path"};
  EXPECT_FALSE(Subprocess::start(c));
}

TEST(Subprocess, ExtraDescriptorsAndRedirectsLandWhereAsked) {
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
  Program c = piped_shell("echo three >&3; echo to-err-via-out");
  c.extra_fds = {{p[1], 3}};
  c.out = Redirect::from_fd(p[1]);  // stdout into the same pipe
  auto r = run(c);
  ::close(p[1]);
  ASSERT_TRUE(r) << r.error().message;
  char buf[64] = {};
  ssize_t n = ::read(p[0], buf, sizeof buf - 1);
  ::close(p[0]);
  EXPECT_EQ(std::string(buf, size_t(std::max<ssize_t>(n, 0))), "three\nto-err-via-out\n");
  EXPECT_EQ(r->out, "");
}

TEST(Subprocess, OtherDescriptorsDoNotLeak) {
  // Not close-on-exec, and high: a low number could be the one `ls` opens for the listing.
  int low = ::open("/dev/null", O_RDONLY);
  ASSERT_GE(low, 0);
  int fd = ::fcntl(low, F_DUPFD, 50);
  ::close(low);
  ASSERT_GE(fd, 50);
  auto r = run(piped_shell("ls /proc/self/fd | sort -n | tr '\\n' ' '"));
  ::close(fd);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->out.find(" " + std::to_string(fd) + " "), std::string::npos) << r->out;
}

TEST(Subprocess, StopAtMaxOutputKillsTheGroup) {
  Program c = piped_shell("yes | tr -d '\\n' & wait");
  c.new_process_group = true;
  auto r = run(c, {.max_output = 100000, .stop_at_max_output = true});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->out_truncated);
  EXPECT_EQ(r->out, std::string(100000, 'y'));
  EXPECT_TRUE(WIFSIGNALED(r->wait_status));
}

TEST(Subprocess, DeadlineKillsAndFails) {
  auto t0 = std::chrono::steady_clock::now();
  auto r = run(piped_shell("sleep 30"), {.timeout_ms = 200});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().errnum, ETIMEDOUT);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
}

TEST(Subprocess, WaitForTerminateAndDestructionReap) {
  auto p = Subprocess::start(Program::shell("sleep 30"));
  ASSERT_TRUE(p);
  pid_t pid = p->pid();
  auto w = p->wait_for(50);
  ASSERT_TRUE(w);
  EXPECT_FALSE(*w);
  int st = p->terminate(5000);
  EXPECT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);
  EXPECT_FALSE(p->running());
  {
    auto q = Subprocess::start(Program::shell("sleep 30"));
    ASSERT_TRUE(q);
    pid = q->pid();
  }
  EXPECT_EQ(::kill(pid, 0), -1);  // killed and reaped: no zombie left
  EXPECT_EQ(errno, ESRCH);
}

TEST(Subprocess, KeepsArgvZeroAsGiven) {
  // As execvp: the program is found on PATH, but sees the name it was started by.
  auto r = run(piped({"cat", "/proc/self/cmdline"}));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->out, std::string("cat\0/proc/self/cmdline\0", 23));
}

TEST(Subprocess, FindProgramSearchesPathAsExecvp) {
  auto sh = find_program("sh");
  ASSERT_TRUE(sh) << sh.error().message;
  EXPECT_EQ(sh->substr(sh->size() - 3), "/sh");
  EXPECT_EQ(::access(sh->c_str(), X_OK), 0);
  EXPECT_EQ(*find_program("/no/such/dir/prog"), "/no/such/dir/prog");  // a path is used as it is
  auto none = find_program("nbdkitpp-no-such-program");
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().errnum, ENOENT);
  EXPECT_NE(none.error().message.find("nbdkitpp-no-such-program"), std::string::npos);
}

}  // namespace
}  // namespace nbd
