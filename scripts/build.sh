#!/usr/bin/env bash
# Configures and builds Tessera with Ninja into build/ (override with BUILD_DIR).
# Extra arguments go to CMake's configure step, e.g. -DTESSERA_WITH_CUDA=OFF.
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${BUILD_DIR:-$repo_root/build}"
jobs="${TESSERA_BUILD_JOBS:-$(nproc)}"
# Let ccache reuse objects across checkouts in other directories (CI clones afresh each
# time): hash paths relative to the repository and ignore the working directory.
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$repo_root}" CCACHE_NOHASHDIR="${CCACHE_NOHASHDIR:-1}"
cmake -S "$repo_root" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DPython3_EXECUTABLE="$repo_root/.venv/bin/python" "$@"
cmake --build "$build_dir" -j "$jobs"
