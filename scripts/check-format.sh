#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Fails, naming each file, when a C/C++ source is not formatted as .clang-format says.
# With no arguments: every .c/.cc/.h file git tracks. `clang-format -i FILE` fixes one.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
command -v clang-format >/dev/null || { echo "check-format: clang-format is not installed (scripts/install-deps.sh)" >&2; exit 1; }
if [ $# -eq 0 ]; then
  cd "$root"
  mapfile -t files < <(git ls-files '*.c' '*.cc' '*.h')
else
  files=("$@")
fi
bad=()
for f in "${files[@]}"; do
  clang-format --style="file:$root/.clang-format" --dry-run -Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
if [ ${#bad[@]} -gt 0 ]; then
  printf 'check-format: not formatted (clang-format -i FILE): %s\n' "${bad[@]}" >&2
  exit 1
fi
