#!/usr/bin/env bash
# Set up planctl on a fresh machine: a virtual environment in .venv with planctl[tvm,examples,test]
# installed editable, and the example model exported to ONNX. Idempotent: a second run that finds
# the same pyproject.toml installs nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
  "$python" -m venv .venv
fi
stamp=.venv/.planctl-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [[ ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
  .venv/bin/python -m pip install -q --upgrade pip
  # The CPU build of torch first: unpinned, a dependency would pull a multi-GB CUDA build.
  .venv/bin/python -m pip install -q "torch==2.13.0"
  .venv/bin/python -m pip install -q -e ".[tvm,examples,test]"
  echo "$want" > "$stamp"
fi
.venv/bin/python examples/minilm/export.py
# the GPU plan (plans/minilm-embed-h200.yaml) runs batch 32; `planctl check` verifies its digest too
.venv/bin/python examples/minilm/export.py --batch 32 --out examples/minilm/minilm-b32-s128.onnx
