#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ with clang-14, AddressSanitizer and
# UndefinedBehaviorSanitizer (CUDA and XPU off) into build-fuzz/ (override with FUZZ_BUILD_DIR),
# then runs each for SECONDS (default 60) from its committed seed corpus (fuzz/corpus/<target>)
# and its dictionary (fuzz/dicts/<target>.dict). scripts/sanitize.sh asan builds and runs the
# unit tests in this same build (scripts/sanitizers/clang-asan-build.sh configures both).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     e.g. scripts/fuzz.sh 3600 gguf chat_template
#
# What a run finds (new coverage) stays in build-fuzz/corpus/<target>; a crash, leak, timeout or
# broken invariant is saved as build-fuzz/artifacts/<target>-crash-* and the script exits 1
# after running the other targets. Reproduce one with build-fuzz/bin/fuzz_<target> FILE; once
# fixed, copy it to fuzz/corpus/<target>/regression-<what> so that CTest replays it
# (fuzz.replay.<target>) in every build.
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seconds="${1:-60}"
shift $(( $# > 0 ? 1 : 0 ))
build_dir="${FUZZ_BUILD_DIR:-$repo_root/build-fuzz}"
jobs="${TESSERA_BUILD_JOBS:-$(nproc)}"
all_targets=(gguf safetensors hf_config tokenizer_json tokenizer_encode chat_template
             openai_request http_request config_yaml)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")

# The same configuration as scripts/sanitize.sh asan (it builds the unit tests here too).
source "$repo_root/scripts/sanitizers/clang-asan-build.sh"
configure_clang_asan_build "$repo_root" "$build_dir"
cmake --build "$build_dir" -j "$jobs" --target "${targets[@]/#/fuzz_}"

# libFuzzer's seed, printed so that a run can be repeated (-runs and -seed make it exact).
seed="${FUZZ_SEED:-$((RANDOM * 32768 + RANDOM + 1))}"
echo "fuzz seed $seed (FUZZ_SEED=$seed repeats it)"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
mkdir -p "$build_dir/artifacts"
failed=()
for target in "${targets[@]}"; do
  work="$build_dir/corpus/$target"
  mkdir -p "$work"
  dict=()
  [ -f "$repo_root/fuzz/dicts/$target.dict" ] && dict=(-dict="$repo_root/fuzz/dicts/$target.dict")
  # FUZZ_RUNS=N: stop after N inputs instead (SECONDS stays as a cap): with the same seed,
  # tree and corpus the run is then the same on any machine, however fast (CI uses this).
  limit=(-max_total_time="$seconds")
  [ -n "${FUZZ_RUNS:-}" ] && limit+=(-runs="$FUZZ_RUNS")
  echo "== fuzz_$target: ${FUZZ_RUNS:+$FUZZ_RUNS inputs, at most }${seconds}s"
  # -timeout: one input taking 10 s is a hang; -rss_limit_mb: a parser must not balloon.
  if ! "$build_dir/bin/fuzz_$target" "${limit[@]}" -timeout=10 -rss_limit_mb=2048 \
      -max_len=65536 -print_final_stats=1 -seed="$seed" \
      -artifact_prefix="$build_dir/artifacts/$target-" "${dict[@]}" \
      "$work" "$repo_root/fuzz/corpus/$target" 2>"$build_dir/fuzz_$target.log"; then
    failed+=("$target")
    tail -n 40 "$build_dir/fuzz_$target.log"
  else
    grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$build_dir/fuzz_$target.log" || true
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzzing found problems in: ${failed[*]} (inputs in $build_dir/artifacts)" >&2
  exit 1
fi
echo "fuzzing: no crash, leak, hang or broken invariant in ${targets[*]} (${FUZZ_RUNS:+$FUZZ_RUNS inputs or }${seconds}s each)"
