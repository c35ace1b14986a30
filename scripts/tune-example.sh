#!/usr/bin/env bash
# Re-tune the example plan's shape buckets and rewrite its committed tuning records:
#   bash scripts/tune-example.sh                      # both CPU targets, one after the other
#   bash scripts/tune-example.sh x86-64-avx512        # one target
# For each target, `planctl tune` lowers every bucket of plans/minilm-embed.yaml, serves what the
# cache already holds (the committed records included) and searches the rest within the plan's
# autotuning budget (per bucket), then writes the record serving each task to
# examples/minilm/records/minilm-embed/<target>.jsonl. It prints, per bucket, how many tasks have
# a valid record: a search whose every build fails still "succeeds". A target this host cannot run
# is refused before anything is searched (`planctl targets` says which it can). The search uses a
# cache of its own (PLANCTL_CACHE, default .planctl/tune-cache), so that a fresh search is not
# served by records of an earlier one unless you point it at them. Tasks the committed records
# already serve are not searched again: to search a target from scratch, delete its .jsonl and point
# PLANCTL_CACHE at an empty folder (what produced the committed records, 2026-11-30: every task of the
# four buckets then, about 35 minutes per target on an idle 2-core EPYC; 2026-12-01: the 1 x 64 bucket,
# 583 trials and 10 minutes per target, and `planctl tune --refine` of the slowest matmuls).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export TVM_NUM_THREADS=${TVM_NUM_THREADS:-2}
export PLANCTL_CACHE=${PLANCTL_CACHE:-.planctl/tune-cache}
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(x86-64-avx2 x86-64-avx512)
for target in "${targets[@]}"; do
  echo "tune-example: $target (cache $PLANCTL_CACHE)" >&2
  .venv/bin/planctl -v tune plans/minilm-embed.yaml --target "$target" --write-records
done
