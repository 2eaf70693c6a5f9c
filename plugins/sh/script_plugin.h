// SPDX-License-Identifier: BSD-3-Clause
// The script protocol shared by the sh and eval plugins: every plugin method becomes one run
// of an external program `PROGRAM METHOD ARGS...` with $tmpdir set (nbdkit-sh-plugin(3)).
// sh runs one script for every method; eval runs one /bin/sh fragment per method.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/temp_dir.h"
#include "nbd/plugin.h"
#include "plugins/sh/script_output.h"

namespace nbd::script {

class ScriptPlugin : public Plugin {
 public:
  // Creates the private temporary directory ($tmpdir) at once, like upstream's load.
  ScriptPlugin();
  ~ScriptPlugin() override;

  Status config_complete() override;
  ThreadModel thread_model() override;
  Status get_ready() override;
  Status after_fork() override;
  Status preconnect(const Peer& peer, bool readonly) override;
  Result<std::vector<ExportInfo>> list_exports(bool readonly, bool is_tls) override;
  Result<std::string> default_export(bool readonly, bool is_tls) override;
  Result<std::unique_ptr<Connection>> open(const OpenParams& params) override;
  std::vector<std::string> dump_plugin() override;
  // Runs the unload method (errors ignored) and removes $tmpdir. Idempotent.
  void unload() override;

  struct Reply {
    Exit exit;
    std::string out;  // stdout
  };
  // Runs METHOD ARGS... with `input` on stdin; stdout is returned. Errors (exit 1, 4+, a
  // signal) come back as the Error the script named on stderr. A method the program cannot
  // be found for (no script yet) is Missing. Thread-safe once configuration is over.
  Result<Reply> call(std::string_view method, std::vector<std::string> args,
                     std::span<const std::byte> input = {}) const;
  // The same, with stdout written to `out`; fails unless exactly out.size() bytes came.
  Result<Exit> call_into(std::string_view method, std::vector<std::string> args,
                         std::span<std::byte> out) const;
  // A boolean method: exit 0 is true, 3 false; when missing, the answer is whether the
  // plugin defines `companion` (eval knows its methods; sh never does, so false).
  Result<bool> ask(std::string_view method, std::vector<std::string> args, std::string_view companion) const;
  // The program run for `method`, which also names it in error messages.
  virtual std::string program_for(std::string_view method) const = 0;
  // Whether `method` is known to exist without running anything (eval's given fragments).
  virtual bool defines(std::string_view /*method*/) const { return false; }
  // "/path: unexpected exit status 3 from METHOD" for exits a method cannot give.
  Error unexpected(std::string_view method, Exit exit) const;

 protected:
  const std::string& tmpdir() const { return tmpdir_.path(); }
  // Error from creating $tmpdir, reported by the first config step rather than lost.
  Status tmpdir_status() const;
  // Writes `text` to $tmpdir/NAME, mode 0700 (the inline sh script, eval's fragments).
  Result<std::string> write_program(std::string_view name, std::string_view text) const;
  // Runs a method whose only outcomes are success or "not implemented" (load, config_complete...).
  Status call_optional(std::string_view method, std::vector<std::string> args = {}) const;

 private:
  struct Run {
    std::string program;
    Exit exit;
    std::string out;
    uint64_t out_bytes;
  };
  // The one place a method becomes a process: argv, $tmpdir, exit code and stderr error.
  Result<Run> run(std::string_view method, std::vector<std::string>& args, std::span<const std::byte> input,
                  std::span<std::byte>* out) const;

  TempDir tmpdir_;  // removed by the process left running after daemonizing
  std::string tmpdir_error_;
  bool unloaded_ = false;
};

// The per-client side (script_connection.cc): runs methods with the handle `open` printed,
// and `close` when destroyed.
std::unique_ptr<Connection> make_script_connection(const ScriptPlugin& plugin, std::string handle);

}  // namespace nbd::script
