#!/usr/bin/env bash
# The test suite: set up, then run pytest (CI's .ci/run calls exactly this).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export TVM_NUM_THREADS=${TVM_NUM_THREADS:-2}
exec .venv/bin/python -m pytest -q "$@"
