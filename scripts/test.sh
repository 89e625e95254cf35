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
# The parsers of untrusted input under libFuzzer with ASan + UBSan (a separate clang build in
# build-fuzz/, fuzz/README.md): each target for TESSERA_CI_FUZZ_RUNS inputs (a count, not a
# time, with a fixed seed: the same tree gives the same result on any machine, so CI never
# fails by chance), TESSERA_CI_FUZZ_SECONDS at most (0 skips). CTest above already replayed
# their corpora, crashers found so far included, with GCC.
fuzz_seconds="${TESSERA_CI_FUZZ_SECONDS:-300}"
if [ "$fuzz_seconds" -gt 0 ]; then
  FUZZ_SEED="${FUZZ_SEED:-1}" FUZZ_RUNS="${TESSERA_CI_FUZZ_RUNS:-30000}" \
    "$repo_root/scripts/fuzz.sh" "$fuzz_seconds"
fi
# The unit tests of the core and the CPU plugin, and the plugin's conformance suite (seed 1),
# under ASan + UBSan in that same clang build: its core objects are already compiled, only the
# tests and the plugin are added (docs/testing.md has the list, what is left out and why, and
# the time it adds). TESSERA_CI_SANITIZE=0 skips it. ThreadSanitizer is not run here (time):
# scripts/sanitize.sh tsan.
if [ "${TESSERA_CI_SANITIZE:-1}" != 0 ]; then
  "$repo_root/scripts/sanitize.sh" asan
fi
