#!/usr/bin/env bash
# Fails when a tracked C/C++ source deviates from .clang-format (run by CTest as format.check).
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
formatter="$(command -v clang-format-14 || command -v clang-format)"
status=0
while IFS= read -r file; do
  if ! "$formatter" --dry-run --Werror "$file" >/dev/null 2>&1; then
    echo "not formatted: $file (run: $formatter -i $file)"
    status=1
  fi
done < <(git ls-files '*.cpp' '*.h' '*.hpp' '*.cu' '*.cuh' | grep -v '^tests/data/')
exit $status
