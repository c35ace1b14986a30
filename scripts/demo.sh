#!/usr/bin/env bash
# The main job: set up, then apply the example plan for the AVX2 CPU target.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export TVM_NUM_THREADS=${TVM_NUM_THREADS:-2}
exec .venv/bin/planctl apply plans/minilm-embed.yaml --target x86-64-avx2 "$@"
