#!/usr/bin/env bash
# The main job: set up, then apply the example plan for a CPU target (README "Targets" says which):
#   bash scripts/demo.sh                          # x86-64-avx2: any x86-64 CPU with AVX2 + FMA
#   bash scripts/demo.sh --target x86-64-avx512   # AVX-512 (F/BW/VL) + VNNI: Xeon since Cascade Lake, AMD Zen 4/5
# Other arguments go to `planctl apply` (e.g. --force, --out DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
target=x86-64-avx2
args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --target) target=$2; shift 2 ;;
    --target=*) target=${1#*=}; shift ;;
    *) args+=("$1"); shift ;;
  esac
done
bash scripts/setup.sh
export TVM_NUM_THREADS=${TVM_NUM_THREADS:-2}
exec .venv/bin/planctl apply plans/minilm-embed.yaml --target "$target" ${args[@]+"${args[@]}"}
