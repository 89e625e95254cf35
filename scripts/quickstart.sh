#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine: install dependencies, build, list the plugins
# this machine can use and run the conformance suite on each of them.
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$repo_root/scripts/install-deps.sh"
"$repo_root/scripts/build.sh"
build_dir="${BUILD_DIR:-$repo_root/build}"
"$build_dir/bin/tessera" plugins
for plugin in "$build_dir"/lib/tessera/plugins/libtessera-*.so; do
  echo "== conformance: $(basename "$plugin")"
  "$build_dir/bin/tessera-conformance" --plugin "$plugin" --gtest_brief=1
done
