#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12 machine: install dependencies, build, run CTest.
# This is what CI runs (.ci/run).
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$repo_root/scripts/install-deps.sh"
"$repo_root/scripts/build.sh"
build_dir="${BUILD_DIR:-$repo_root/build}"
# CTest runs tests side by side on every core; one OpenMP thread per test, sleeping rather
# than spinning when idle, keeps them from fighting over cores (tests never assert speed).
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
ctest --test-dir "$build_dir" --output-on-failure -j "${TESSERA_TEST_JOBS:-$(nproc)}" \
  --timeout 600
