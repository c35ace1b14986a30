#!/usr/bin/env bash
# The main job: set up, then apply the example plan for a CPU target (README "Targets" says which):
#   bash scripts/demo.sh                          # the widest this host runs (`planctl targets`):
#                                                 # x86-64-avx512 on AVX-512 + VNNI hosts, else x86-64-avx2
#   bash scripts/demo.sh --target x86-64-avx2     # any x86-64 CPU with AVX2 + FMA
# Other arguments go to `planctl apply` (e.g. --force, --out DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
target=
args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --target) target=$2; shift 2 ;;
    --target=*) target=${1#*=}; shift ;;
    *) args+=("$1"); shift ;;
  esac
done
bash scripts/setup.sh
if [[ -z $target ]]; then
  # an AVX-512 host given the AVX2 build ran it about 2x slower than onnxruntime (the new user, 2026-12-03)
  target=$(.venv/bin/planctl targets --output json | .venv/bin/python -c '
import json, sys
runs = {t["name"] for t in json.load(sys.stdin)["targets"] if t["runs_here"]}
print("x86-64-avx512" if "x86-64-avx512" in runs else "x86-64-avx2")')
  echo "demo: applying for target $target (the widest of the example plan's CPU targets this host runs; --target picks another)"
fi
export TVM_NUM_THREADS=${TVM_NUM_THREADS:-2}
exec .venv/bin/planctl apply plans/minilm-embed.yaml --target "$target" ${args[@]+"${args[@]}"}
