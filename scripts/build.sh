#!/usr/bin/env bash
# Configures and builds Tessera with Ninja into build/ (override with BUILD_DIR).
# Extra arguments go to CMake's configure step, e.g. -DTESSERA_WITH_CUDA=OFF.
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${BUILD_DIR:-$repo_root/build}"
jobs="${TESSERA_BUILD_JOBS:-$(nproc)}"
cmake -S "$repo_root" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DPython3_EXECUTABLE="$repo_root/.venv/bin/python" "$@"
cmake --build "$build_dir" -j "$jobs"
