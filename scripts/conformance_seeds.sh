#!/usr/bin/env bash
# Runs the CPU plugin's conformance suite with N random seeds on each ISA path (generic, avx2,
# avx512; a path this CPU or build lacks reports its tests skipped) and prints one line per run
# with the seed, so that a failure replays with:
#   build/bin/tessera-conformance --plugin build/lib/tessera/plugins/libtessera-cpu.so \
#       --option cpu.isa=ISA --option cpu.graphs=1 --seed SEED
# Usage: scripts/conformance_seeds.sh [N=20] [BUILD_DIR=build]. Exit 1 if any run failed.
set -uo pipefail
runs="${1:-20}"
build="${2:-build}"
failed=0
for i in $(seq 1 "$runs"); do
  seed=$(( (RANDOM << 15) | RANDOM ))
  for isa in generic avx2 avx512; do
    out=$(OMP_NUM_THREADS=1 "$build/bin/tessera-conformance" \
      --plugin "$build/lib/tessera/plugins/libtessera-cpu.so" \
      --option "cpu.isa=$isa" --option cpu.graphs=1 --seed "$seed" 2>&1)
    status=$?
    echo "run $i seed $seed isa $isa: $(echo "$out" | grep -E '^\[  (PASSED|FAILED)  \]' | head -1)"
    if [ $status -ne 0 ] && [ $status -ne 77 ]; then
      failed=1
      echo "$out" | grep -E "FAILED|Failure" | head -5
    fi
  done
done
exit $failed
