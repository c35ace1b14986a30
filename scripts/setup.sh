#!/usr/bin/env bash
# Set up planctl on a fresh machine: a virtual environment in .venv with planctl[tvm,examples,test]
# installed editable, the example model exported to ONNX, and PostgreSQL's server programs (the
# shared tuning cache's tests start a server of their own) installed with apt-get where they are
# missing. Idempotent: a second run that finds the same pyproject.toml and an installed PostgreSQL
# installs nothing. pip's, apt's and the exporter's own output goes to .planctl/logs/setup.log
# (shown when a step fails).
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
mkdir -p .planctl/logs
log=.planctl/logs/setup.log
: > "$log"
step() {  # run "$@" with its output in the log; on failure show the log's end and stop
  if ! "$@" >> "$log" 2>&1; then
    echo "setup: '$*' failed; the end of $log:" >&2
    tail -n 40 "$log" >&2
    exit 1
  fi
}
have_postgres() {  # initdb and pg_ctl on PATH or in Debian's versioned folder
  command -v pg_ctl > /dev/null && command -v initdb > /dev/null && return 0
  compgen -G "/usr/lib/postgresql/*/bin/initdb" > /dev/null
}
if ! have_postgres; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get > /dev/null; then
    echo "setup: installing PostgreSQL (server programs for the shared-cache tests; output in $log)" >&2
    step apt-get update -q
    step env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postgresql
  else
    echo "setup: PostgreSQL's initdb/pg_ctl not found and apt-get is not usable here: the shared-cache" \
         "tests will be skipped (install the 'postgresql' package)" >&2
  fi
fi
if [[ ! -x .venv/bin/python ]]; then
  step "$python" -m venv .venv
fi
stamp=.venv/.planctl-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [[ ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
  echo "setup: installing planctl[tvm,examples,test] into .venv (a few minutes; output in $log)" >&2
  step .venv/bin/python -m pip install -q --upgrade pip
  # The CPU build of torch first: unpinned, a dependency would pull a multi-GB CUDA build.
  step .venv/bin/python -m pip install -q "torch==2.13.0"
  step .venv/bin/python -m pip install -q -e ".[tvm,examples,test]"
  echo "$want" > "$stamp"
fi
# the example plan's model: batch and seq symbolic (one file serves every production shape)
step .venv/bin/python examples/minilm/export.py
# the GPU plans (plans/minilm-embed-h200*.yaml) run batch 32 x 128 only: a static export; `planctl check`
# verifies its digest too
step .venv/bin/python examples/minilm/export.py --static --batch 32 --seq 128 --out examples/minilm/minilm-b32-s128.onnx
# the int8 plan (plans/minilm-embed-int8.yaml): batch 2 x 128, static, as its tuning records were searched
step .venv/bin/python examples/minilm/export.py --static --batch 2 --seq 128 --out examples/minilm/minilm-b2-s128.onnx
grep -E "^(exported|.*exists \(sha256)" "$log" | sed 's/^/setup: /' >&2 || true
