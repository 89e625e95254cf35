#!/usr/bin/env bash
# Builds Tessera with a sanitizer (CUDA and XPU off) and runs tests under it.
#
#   scripts/sanitize.sh asan [CTEST_REGEX]   AddressSanitizer + UndefinedBehaviorSanitizer into
#                                            build-asan/; runs the unit and integration tests
#                                            (all of CTest, or those matching CTEST_REGEX)
#   scripts/sanitize.sh tsan [CTEST_REGEX]   ThreadSanitizer into build-tsan/; runs the tests
#                                            with threads: engine, scheduler, the CPU plugin's
#                                            collectives and thread pool, the server end to end
#
# Any report fails the run (halt_on_error / exitcode). BUILD_DIR overrides the build folder (build-asan/ or build-tsan/);
# TESSERA_BUILD_JOBS and TESSERA_TEST_JOBS the parallelism; SANITIZE_TARGETS="a b" builds only
# those targets (the tests of CTEST_REGEX must be among them), for a quicker partial run. Suppressions, with the reason for
# each, live in scripts/sanitizers/.
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mode="${1:-}"
regex="${2:-}"
case "$mode" in
  asan)
    sanitize=address,undefined
    default_regex=""
    # Leaks are reported at exit (LeakSanitizer); UBSan stops at the first report.
    export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1}"
    export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
    export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$repo_root/scripts/sanitizers/lsan.supp}"
    ;;
  tsan)
    sanitize=thread
    # Test names are GoogleTest's Suite.Case; these suites start threads or serve requests.
    default_regex="^(Engine|Scheduler|Collectives|Threads|integration\.server|fuzz\.replay\.openai)"
    export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:suppressions=$repo_root/scripts/sanitizers/tsan.supp}"
    ;;
  *)
    echo "usage: scripts/sanitize.sh asan|tsan [CTEST_REGEX]" >&2
    exit 2
    ;;
esac
regex="${regex:-$default_regex}"
build_dir="${BUILD_DIR:-$repo_root/build-$mode}"
jobs="${TESSERA_BUILD_JOBS:-$(nproc)}"
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$repo_root}" CCACHE_NOHASHDIR="${CCACHE_NOHASHDIR:-1}"
cmake -S "$repo_root" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DTESSERA_SANITIZE="$sanitize" -DTESSERA_WITH_CUDA=OFF -DTESSERA_WITH_XPU=OFF \
  -DPython3_EXECUTABLE="$repo_root/.venv/bin/python" >/dev/null
build_targets=()
for target in ${SANITIZE_TARGETS:-}; do build_targets+=(--target "$target"); done
cmake --build "$build_dir" -j "$jobs" "${build_targets[@]}"
# One OpenMP thread per test: libgomp is not instrumented, so TSan cannot see its barriers
# (threads inside one parallel region would look racy); the plugin's own pool still runs.
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE
ctest_args=(--test-dir "$build_dir" --output-on-failure -j "${TESSERA_TEST_JOBS:-$(nproc)}"
            --timeout 1200)
[ -n "$regex" ] && ctest_args+=(-R "$regex")
ctest "${ctest_args[@]}"
