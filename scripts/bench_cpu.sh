#!/usr/bin/env bash
# CPU benchmark of the issue-17 shapes: writes random-weight Llama models of about 125M and
# 853M parameters (llama2 family, 32,000 vocabulary) with scripts/make_tiny_models.py, then
# runs `tessera bench latency` on each GGUF type with 2 threads:
#   decode at batch 1 and 8 (32-token prompts, 32 output tokens),
#   prefill of one 512-token prompt,
# best of 3 iterations each (the machine may be shared: the load average is printed beside every
# row). One Markdown row per (model, type, workload) goes to stdout and to $OUT/table.md;
# each run's JSON is kept in $OUT.
#
# Usage: scripts/bench_cpu.sh [--models DIR] [--out DIR] [--shapes 125m,853m]
#                             [--types F16,BF16,Q8_0,Q4_0] [--threads 2] [--runs 3]
# Environment: TESSERA (the binary, default build/bin/tessera), TESSERA_CPU_ISA to force an
# ISA path. Never run in CI: the 853M models take about a minute to write and 2.6 GB of disk.
set -euo pipefail
cd "$(dirname "$0")/.."

models=/tmp/tessera-bench-cpu/models
out=/tmp/tessera-bench-cpu/results
shapes=125m,853m
types=F16,BF16,Q8_0,Q4_0
threads=2
runs=3
while [[ $# -gt 0 ]]; do
  case "$1" in
    --models) models=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --shapes) shapes=$2; shift 2 ;;
    --types) types=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    -h|--help) sed -n 2,15p "$0"; exit 0 ;;
    *) echo "bench_cpu.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
tessera=${TESSERA:-build/bin/tessera}
python=python3
[[ -x .venv/bin/python ]] && python=.venv/bin/python
[[ -x $tessera ]] || { echo "bench_cpu.sh: $tessera not found; build first" >&2; exit 1; }
mkdir -p "$models" "$out"

types_lower=$(echo "$types" | tr 'A-Z' 'a-z')
for shape in ${shapes//,/ }; do
  missing=0
  for t in ${types_lower//,/ }; do
    [[ -f $models/llama2-$shape-$t.gguf ]] || missing=1
  done
  if [[ $missing == 1 ]]; then
    "$python" scripts/make_tiny_models.py "$models" --families llama2 --size "$shape" \
      --hf-dtype float16 --gguf-types "$types"
  fi
done

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
flags=$(grep -m1 '^flags' /proc/cpuinfo)
isa=generic
[[ $flags == *" avx2 "* ]] && isa=avx2
[[ $flags == *" avx512f "* ]] && isa=avx512
extras=""
for f in avx512_vnni avx512_bf16 avx_vnni amx_tile; do
  [[ $flags == *" $f "* ]] && extras="$extras $f"
done
load() { cut -d' ' -f1 /proc/loadavg; }

table=$out/table.md
{
  echo "CPU: $cpu; best ISA: $isa (+$extras); TESSERA_CPU_ISA=${TESSERA_CPU_ISA:-auto};" \
       "threads: $threads; $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo "| model | type | workload | tok/s (best of $runs) | triad GB/s | weight MB/token | roofline tok/s | % roofline | step overhead ms (median) | prefill GFLOP/s : GEMM peak | load before/after |"
  echo "|---|---|---|---:|---:|---:|---:|---:|---:|---|---|"
} | tee "$table"

common=(--device cpu --plugin-option "cpu.num_threads=$threads" --max-model-len 1024
        --kv-cache-memory 1GiB --swap-space 0 --num-iters "$runs" --num-iters-warmup 1)

# rows JSON MODEL TYPE LOAD_BEFORE LOAD_AFTER: one table row per batch size in the JSON,
# from the best of its iterations (decode when the run generated more than 2 tokens, else
# prefill).
rows() {
  "$python" -c '
import json, statistics, sys
path, model, wtype, before, after = sys.argv[1:6]
d = json.load(open(path))
triad = d["bandwidth"]["triad_gbps"]
mb = d["model"]["weight_bytes_per_token"] / 1e6
steps = d["output_len"] - 1
for run in d["runs"]:
    b = run["batch_size"]
    if steps > 1:
        tok = b * steps / min(run["decode_s"])
        roof = run["roofline_tok_s"]
        over = run.get("step_overhead_ms")
        over = "–" if over is None else f"{over:.2f}"
        print(f"| {model} | {wtype} | decode, batch {b} | {tok:.1f} | {triad:.1f} | {mb:.1f} | "
              f"{roof:.1f} | {100 * tok / roof:.0f}% | {over} | – | {before} / {after} |")
    else:
        n = d["input_len"]
        best = min(run["prefill_s"])
        tok = b * n / best
        # prefill_gflops is of the median; rescale to the best iteration like tok/s.
        gflops = run["prefill_gflops"] * statistics.median(run["prefill_s"]) / best
        peak = (d.get("gemm_calibration") or {}).get("gflops")
        vs = f"{gflops:.0f} : {peak:.0f} ({100 * gflops / peak:.0f}%)" if peak else f"{gflops:.0f} : –"
        print(f"| {model} | {wtype} | prefill {n}, batch {b} | {tok:.1f} | "
              f"{triad:.1f} | {mb:.1f} | – | – | – | {vs} | {before} / {after} |")
' "$@"
}

bench() {
  local model=$1 type=$2 name=$3; shift 3
  local json=$out/$name.json before after
  before=$(load)
  "$tessera" bench latency --model "$model" "${common[@]}" "$@" --json > "$json" 2> "$json.log" ||
    { echo "bench_cpu.sh: $name failed, see $json.log" >&2; return 1; }
  after=$(load)
  rows "$json" "llama2-${name%%-*}" "$type" "$before" "$after" | tee -a "$table"
}

for shape in ${shapes//,/ }; do
  for t in ${types//,/ }; do
    lower=$(echo "$t" | tr 'A-Z' 'a-z')
    model=$models/llama2-$shape-$lower.gguf
    bench "$model" "$t" "$shape-$lower-decode" --input-len 32 --output-len 32 --batch-size 8
    bench "$model" "$t" "$shape-$lower-prefill" --input-len 512 --output-len 2 --batch-size 1
  done
done
