// SPDX-License-Identifier: BSD-3-Clause
// Runs one external program to completion for the sh and eval plugins: feeds it stdin while
// reading its stdout and stderr (so large data never deadlocks), then reaps it.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "nbd/result.h"

namespace nbd::script {

struct ProcessRequest {
  // argv[0] is the program to execute (an absolute path; PATH is not searched). A file the
  // kernel cannot execute (no "#!" line) is run by /bin/sh, like execvp does.
  std::vector<std::string> argv;
  // "NAME=VALUE" entries added to (or replacing those in) the caller's environment.
  std::vector<std::string> extra_env;
  // Bytes written to the program's stdin, which is then closed. The program may stop reading
  // early: the rest is dropped without error (the exit status decides).
  std::span<const std::byte> input;
  // When set, stdout goes here and ProcessResult::out_bytes counts everything the program
  // printed (which may be more than fits); otherwise stdout is collected in ProcessResult::out.
  std::span<std::byte>* fixed_output = nullptr;
};

struct ProcessResult {
  int wait_status = 0;     // as from waitpid(2)
  std::string out;         // stdout, unless fixed_output was given
  uint64_t out_bytes = 0;  // bytes printed on stdout
  std::string err;         // stderr (only the first 64 KiB are kept)
};

// Fails only when the program cannot be started or the pipes break; a program that runs and
// fails is a success here, with its wait status. Thread-safe: each call is independent.
Result<ProcessResult> run_process(const ProcessRequest& req);

}  // namespace nbd::script
