#!/usr/bin/env bash
# Checks the CUDA plugin on a machine with an NVIDIA GPU that has the driver but none of our
# build dependencies (the lent benchmark machines: CUDA, CMake, Python, no Debian packages).
#
#   scripts/gpu-check.sh pack            on the build machine: build for the GPU's
#                                        architecture (TESSERA_CUDA_ARCHITECTURES, default 90)
#                                        and pack binaries, plugins, their non-system shared
#                                        libraries and pinned Python wheels into
#                                        .device/bundle.tar.xz (ignored by git, < 64 MiB).
#   scripts/gpu-check.sh check           on the GPU machine, in the repository root: unpack,
#                                        write the tiny models, then run the CUDA conformance
#                                        suite, the tiny-model logits test on cuda and the
#                                        greedy comparison with the CPU plugin.
#   scripts/gpu-check.sh bench [SIZES]   on the GPU machine after `check`: write random-weight
#                                        models of SIZES (default "1b 8b"), then batch-1 decode
#                                        latency beside the HBM roofline and throughput at
#                                        concurrency 1, 16, 64, 256 in bf16; and the same
#                                        workload through Hugging Face transformers when torch
#                                        and transformers import there.
#
# Results go to $OUT (the device tool's output folder) or .device/results. Nothing here runs
# in CI; docs/cuda-plugin.md explains the procedure.
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
device_dir="$repo_root/.device"
work="${TESSERA_GPU_WORK:-/tmp/tessera-gpu}"
out="${OUT:-$device_dir/results}"

pack() {
  local build_dir="${BUILD_DIR:-$repo_root/build}"
  local arch="${TESSERA_CUDA_ARCHITECTURES:-90}"
  BUILD_DIR="$build_dir" "$repo_root/scripts/build.sh" -DTESSERA_CUDA_ARCHITECTURES="$arch"
  local stage="$device_dir/stage"
  rm -rf "$stage"
  mkdir -p "$stage/bin" "$stage/lib/tessera/plugins" "$stage/lib/deps" "$stage/wheels"
  local binaries=("$build_dir/bin/tessera" "$build_dir/bin/tessera-conformance"
                  "$build_dir/bin/model_forward_test" "$build_dir/bin/engine_consistency_test"
                  "$build_dir/bin/tensor_parallel_test")
  for f in "${binaries[@]}"; do
    [[ -x "$f" ]] || { echo "gpu-check: $f is missing; build it first" >&2; exit 1; }
    cp "$f" "$stage/bin/"
  done
  for name in cpu cuda; do
    local plugin="$build_dir/lib/tessera/plugins/libtessera-$name.so"
    [[ -f "$plugin" ]] || { echo "gpu-check: $plugin is missing" >&2; exit 1; }
    cp "$plugin" "$stage/lib/tessera/plugins/"
  done
  # Every shared library they need except the C runtime and the driver, which the GPU
  # machine has (and must use its own of).
  local skip='^(linux-vdso|ld-linux|libc\.so|libm\.so|libdl\.so|libpthread\.so|librt\.so|libcuda\.so|libnvidia)'
  for f in "$stage"/bin/* "$stage"/lib/tessera/plugins/*.so; do
    ldd "$f" | awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}' | while read -r soname path; do
      [[ "$soname" =~ $skip ]] && continue
      [[ -f "$stage/lib/deps/$soname" ]] || cp -L "$path" "$stage/lib/deps/$soname"
    done
  done
  # The C++ runtime is used only where the machine's own is too old for our binaries (ours
  # needs a newer glibc than some machines have, so it must not be preferred blindly).
  mkdir -p "$stage/lib/fallback"
  mv "$stage"/lib/deps/libstdc++.so.6 "$stage"/lib/deps/libgcc_s.so.1 "$stage/lib/fallback/" 2>/dev/null || true
  strip --strip-debug "$stage"/bin/* "$stage"/lib/tessera/plugins/*.so "$stage"/lib/deps/*.so* \
    "$stage"/lib/fallback/*
  # The tiny models are written on the GPU machine (they are ~500 MB): the pinned writer and
  # reference packages go along as wheels for whatever CPython it has (numpy must be there).
  local pip="$repo_root/.venv/bin/pip"
  "$pip" download --quiet --no-deps --only-binary=:all: -d "$stage/wheels" \
    $(grep -E '^(safetensors|gguf|tokenizers)==' "$repo_root/requirements-test.txt")
  for py in 3.10 3.11 3.12 3.13; do
    "$pip" download --quiet --no-deps --only-binary=:all: --python-version "$py" \
      --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 -d "$stage/wheels" \
      "pyyaml==${PYYAML_VERSION:-6.0.3}" || echo "gpu-check: no PyYAML wheel for Python $py"
  done
  tar -C "$stage" -cJf "$device_dir/bundle.tar.xz" .
  rm -rf "$stage"
  local size
  size=$(stat -c %s "$device_dir/bundle.tar.xz")
  echo "gpu-check: wrote .device/bundle.tar.xz ($((size / 1048576)) MiB) for sm_$arch"
  if ((size > 60 * 1048576)); then
    echo "gpu-check: the bundle exceeds 60 MiB; the device tool carries at most 64 MiB" >&2
    exit 1
  fi
}

# Unpacks the bundle and sets up the environment: our libraries first, then the machine's
# cuBLASLt and NCCL (from its CUDA or PyTorch installation).
setup() {
  [[ -f "$device_dir/bundle.tar.xz" ]] || {
    echo "gpu-check: .device/bundle.tar.xz is missing: run 'scripts/gpu-check.sh pack' on the build machine and carry .device" >&2
    exit 1
  }
  mkdir -p "$work" "$out"
  if [[ ! -f "$work/.unpacked" || "$device_dir/bundle.tar.xz" -nt "$work/.unpacked" ]]; then
    rm -rf "$work/bin" "$work/lib" "$work/wheels" "$work/py"
    tar -C "$work" -xJf "$device_dir/bundle.tar.xz"
    touch "$work/.unpacked"
  fi
  local extra=""
  for lib in libcublasLt.so.13 libcublasLt.so.12 libnccl.so.2; do
    local found
    found="$(find / -xdev \( -path /proc -o -path /sys \) -prune -o -name "$lib" -print 2>/dev/null | head -1 || true)"
    [[ -n "$found" ]] && extra="$extra:$(dirname "$found")"
  done
  export LD_LIBRARY_PATH="$work/lib/deps$extra${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export TESSERA_PLUGIN_PATH="$work/lib/tessera/plugins"
  export TESSERA_TINY_MODELS_DIR="$work/models/tiny"
  export PATH="$work/bin:$PATH"
  if ! tessera --version >/dev/null 2>&1; then
    export LD_LIBRARY_PATH="$LD_LIBRARY_PATH:$work/lib/fallback"
    tessera --version >/dev/null || {
      echo "gpu-check: the bundled binaries do not start here (see the loader's message above)" >&2
      exit 1
    }
  fi
  python="${PYTHON:-$(command -v python3)}"
  "$python" -c "import numpy" 2>/dev/null || {
    echo "gpu-check: $python has no numpy (the model writers need it): set PYTHON to one that has" >&2
    exit 1
  }
  if ! "$python" -c "import safetensors, gguf, tokenizers" 2>/dev/null; then
    "$python" -m pip install --quiet --no-deps --no-index --find-links "$work/wheels" \
      --target "$work/py" safetensors gguf pyyaml tokenizers
    export PYTHONPATH="$work/py${PYTHONPATH:+:$PYTHONPATH}"
  fi
}

check() {
  setup
  local status=0
  {
    nvidia-smi || true
    tessera plugins
    tessera diagnose --json > "$out/diagnose.json" || true
  } 2>&1 | tee "$out/machine.txt"
  # Every GPU test skips without a device: a machine where the plugin sees none must not pass.
  if ! grep -Eq '^ *cuda .* [1-9][0-9]* device' "$out/machine.txt"; then
    echo "gpu-check: the CUDA plugin sees no device here (see $out/machine.txt)" >&2
    status=1
  fi
  if [[ ! -f "$TESSERA_TINY_MODELS_DIR/.stamp" ]]; then
    "$python" "$repo_root/scripts/make_tiny_models.py" "$TESSERA_TINY_MODELS_DIR" \
      --gguf-types F32,Q8_0,Q4_0,Q4_1
    "$python" "$repo_root/scripts/reference_forward.py" "$TESSERA_TINY_MODELS_DIR" \
      "$TESSERA_TINY_MODELS_DIR"
    touch "$TESSERA_TINY_MODELS_DIR/.stamp"
  fi
  tessera-conformance --plugin "$TESSERA_PLUGIN_PATH/libtessera-cuda.so" \
    --gtest_output="json:$out/conformance-cuda.json" 2>&1 | tee "$out/conformance-cuda.txt" ||
    status=1
  TESSERA_TEST_DEVICE=cuda model_forward_test --gtest_output="json:$out/model-forward-cuda.json" \
    2>&1 | tee "$out/model-forward-cuda.txt" || status=1
  TESSERA_TEST_DEVICE=cuda engine_consistency_test \
    --gtest_filter='EngineBehaviour.GreedyOutputsMatchTheCpuPlugin' \
    --gtest_output="json:$out/greedy-vs-cpu.json" 2>&1 | tee "$out/greedy-vs-cpu.txt" || status=1
  # Tensor parallelism over two GPUs (NCCL) against one; skips on a one-GPU machine.
  TESSERA_TEST_DEVICE=cuda tensor_parallel_test \
    --gtest_filter='TensorParallel.OnTheTestDeviceTwoRanksEqualOne' \
    --gtest_output="json:$out/tp2-cuda.json" 2>&1 | tee "$out/tp2-cuda.txt" || status=1
  echo "gpu-check: check finished with status $status (results in $out)"
  return $status
}

bench() {
  setup
  local sizes=("$@")
  ((${#sizes[@]})) || sizes=(1b 8b)
  local models="$work/models/bench"
  for size in "${sizes[@]}"; do
    local model="$models/llama3-$size"
    if [[ ! -f "$model/config.json" ]]; then
      "$python" "$repo_root/scripts/make_tiny_models.py" "$models" --families llama3 \
        --size "$size" --hf-dtype float16 --gguf-types "" --name "llama3-$size"
    fi
    local common=(--model "$model" --device cuda --dtype bfloat16 --max-model-len 4096)
    tessera bench latency "${common[@]}" --input-len 128 --output-len 128 --batch-size 1 \
      --num-iters 3 --num-iters-warmup 1 --json --output-json "$out/latency-$size.json" \
      2>&1 | tee "$out/latency-$size.txt"
    for conc in 1 16 64 256; do
      tessera bench throughput "${common[@]}" --num-prompts $((conc * 4 > 64 ? conc * 4 : 64)) \
        --input-len 128 --output-len 128 --max-concurrency "$conc" --max-num-seqs 256 \
        --seed 0 --save-result "$out/throughput-$size-c$conc.json" 2>&1 |
        tee "$out/throughput-$size-c$conc.txt"
    done
    if "$python" -c "import torch, transformers" 2>/dev/null; then
      "$python" "$repo_root/scripts/bench_transformers.py" --model "$model" \
        --input-len 128 --output-len 128 --concurrency 1 16 64 256 \
        --json "$out/transformers-$size.json" 2>&1 | tee "$out/transformers-$size.txt"
    else
      echo "gpu-check: torch/transformers not importable: no transformers comparison" |
        tee "$out/transformers-$size.txt"
    fi
  done
}

case "${1:-}" in
  pack) pack ;;
  check) check ;;
  bench) shift; bench "$@" ;;
  *)
    sed -n '2,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
