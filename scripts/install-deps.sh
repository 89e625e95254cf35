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
  libpcre2-dev libutf8proc-dev libxxhash-dev
  libze-dev libze1
  ocl-icd-opencl-dev opencl-c-headers pocl-opencl-icd clang-14 llvm-spirv-14
  clang-format-14
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
