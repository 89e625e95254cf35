#!/usr/bin/env bash
# The one command a person with an Intel Arc (or other Level Zero) GPU runs to check the XPU
# plugin on real hardware, in the repository root of a Debian/Ubuntu machine with the
# Intel compute runtime (Level Zero GPU driver) installed:
#
#   scripts/xpu-check.sh
#
# It builds when no build exists (scripts/build.sh, CUDA off), then runs on the GPU through
# Level Zero: diagnose (driver, kernel, clocks, Resizable BAR), the plugin list, the whole
# conformance suite, the tiny-model logits and greedy tests against the float64 reference,
# the batched greedy comparison with the CPU plugin and the default model (SmolLM2 Q4_1)
# against its float64 reference. XPU_CHECK_RUNTIME=opencl runs the
# same through Intel's OpenCL driver instead. Exit status: the number of failed steps.
# Nothing here runs in CI; docs/xpu-plugin.md says what the steps verify.
set -uo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${BUILD_DIR:-$repo_root/build}"
runtime="${XPU_CHECK_RUNTIME:-level_zero}"
bin="$build_dir/bin"
plugins="$build_dir/lib/tessera/plugins"

if [[ ! -x "$bin/tessera-conformance" || ! -f "$plugins/libtessera-xpu.so" ]]; then
  BUILD_DIR="$build_dir" "$repo_root/scripts/build.sh" -DTESSERA_WITH_CUDA=OFF || exit 1
fi
export TESSERA_PLUGIN_PATH="$plugins"
export TESSERA_PLUGIN_OPT_XPU_RUNTIME="$runtime"
export TESSERA_TEST_DEVICE=xpu

failed=0
step() {
  local name="$1"
  shift
  echo
  echo "== xpu-check: $name"
  if "$@"; then
    echo "== xpu-check: $name: ok"
  else
    echo "== xpu-check: $name: FAILED"
    failed=$((failed + 1))
  fi
}

has_xpu_device() {
  "$bin/tessera" plugins --device xpu 2>&1 | tee /dev/stderr | grep -q "^    xpu:0 "
}

conformance() {
  local log
  log="$(mktemp)"
  "$bin/tessera-conformance" --plugin "$plugins/libtessera-xpu.so" \
    --option "xpu.runtime=$runtime" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  # A suite where everything skipped proves nothing here.
  if grep -q "every test skips" "$log"; then rc=1; fi
  rm -f "$log"
  return "$rc"
}

# The default model (SmolLM2-135M Q4_1: INT4_GROUP_ASYM weights) through the whole engine,
# greedy and logprobs against the float64 reference (the CTest fixture writes it first).
default_model() {
  ctest --test-dir "$build_dir" -R '^engine\.smollm2_reference$' --output-on-failure &&
    "$bin/smollm2_test" --gtest_filter='*f32'
}

step "diagnose" "$bin/tessera" diagnose
step "an XPU device through $runtime" has_xpu_device
step "conformance (every op vs float64)" conformance
step "tiny-model logits and greedy continuations" "$bin/model_forward_test" \
  --gtest_filter='TinyModels/*:OnDevice.ChunkedPrefillGivesTheSameLogits'
step "batched greedy outputs equal the CPU plugin's" "$bin/engine_consistency_test" \
  --gtest_filter=EngineBehaviour.GreedyOutputsMatchTheCpuPlugin
step "the default model (SmolLM2 Q4_1) against its float64 reference" default_model
echo
echo "xpu-check: $failed step(s) failed (runtime $runtime)"
exit "$failed"
