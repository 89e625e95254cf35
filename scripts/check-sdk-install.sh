#!/usr/bin/env bash
# Checks that the plugin SDK works as a third party gets it: installs the "sdk" component of
# an existing build into a temporary prefix, builds sdk/examples/minimal_plugin out of tree
# with find_package(tessera) against that prefix, and runs the installed
# tessera-conformance on the plugin it built.
#
#   scripts/check-sdk-install.sh BUILD_DIR
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 BUILD_DIR" >&2
  exit 2
fi
build_dir="$(cd "$1" && pwd)"
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/tessera-sdk-check.XXXXXX")"
trap 'rm -rf "$work"' EXIT

prefix="$work/prefix"
echo "== installing the SDK from $build_dir into $prefix"
cmake --install "$build_dir" --component sdk --prefix "$prefix"
for f in include/tessera/plugin.h include/tessera/ops.def include/tessera/plugin.hpp \
         bin/tessera-conformance; do
  [[ -e "$prefix/$f" ]] || { echo "missing after install: $f" >&2; exit 1; }
done

echo "== building sdk/examples/minimal_plugin out of tree"
generator=()
if command -v ninja >/dev/null; then generator=(-G Ninja); fi
cmake -S "$repo_root/sdk/examples/minimal_plugin" -B "$work/build" "${generator[@]}" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_PREFIX_PATH="$prefix"
cmake --build "$work/build"
plugin="$work/build/libtessera-minimal.so"
[[ -f "$plugin" ]] || { echo "the example did not produce $plugin" >&2; exit 1; }

# Only the two entry points may be exported (hidden visibility).
if command -v nm >/dev/null; then
  exported="$(nm -D --defined-only "$plugin" | awk '$2 ~ /^[TW]$/ {print $3}' | grep '^tsr_' | sort | tr '\n' ' ')"
  if [[ "$exported" != "tsr_plugin_get_api tsr_plugin_score " ]]; then
    echo "unexpected exported tsr_ symbols: $exported" >&2
    exit 1
  fi
fi

echo "== running the installed conformance suite"
"$prefix/bin/tessera-conformance" --plugin "$plugin"
