# Sourced by scripts/fuzz.sh and scripts/sanitize.sh: configures the one clang-14
# AddressSanitizer + UndefinedBehaviorSanitizer build both use (build-fuzz/, CUDA and XPU off),
# so that the core's objects are compiled once for the fuzz targets and the sanitized unit
# tests alike. TESSERA_FUZZ=ON adds libFuzzer's coverage instrumentation to every object (it
# costs the tests some speed, not correctness); the tests link the sanitizer runtimes only.
#
#   configure_clang_asan_build REPO_ROOT BUILD_DIR
configure_clang_asan_build() {
  local repo_root="$1" build_dir="$2"
  export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$repo_root}" CCACHE_NOHASHDIR="${CCACHE_NOHASHDIR:-1}"
  # Warnings are the GCC build's gate; clang's own extra warnings must not stop this build.
  # -fno-sanitize-recover: the first UBSan report fails the input or the test.
  CC=clang-14 CXX=clang++-14 cmake -S "$repo_root" -B "$build_dir" -G Ninja \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTESSERA_FUZZ=ON -DTESSERA_WITH_TESTS=ON \
    -DTESSERA_WITH_CUDA=OFF -DTESSERA_WITH_XPU=OFF \
    -DTESSERA_SANITIZE=address,undefined -DCMAKE_CXX_FLAGS="-Wno-error -fno-sanitize-recover=all" \
    -DCMAKE_C_FLAGS="-fno-sanitize-recover=all" \
    -DPython3_EXECUTABLE="$repo_root/.venv/bin/python" >/dev/null
}
