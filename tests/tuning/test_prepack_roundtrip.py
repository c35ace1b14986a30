"""Every trace instruction MetaSchedule emits survives commit, export, import and serve, including
the layout rewrites (``TransformLayout`` with an ``IndexMap``) that ``prepack_weights`` asks for.

A tiny workload is tuned with prepacking on for a few trials into the store; the records are
exported to JSONL; a new process imports them into an empty cache, serves them with 0 trials and
checks the build's parity against numpy."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.tvm
tvm = pytest.importorskip("tvm")

TARGET = {"kind": "llvm", "mcpu": "haswell", "num-cores": 2}

MODULE = """
import numpy as np, tvm
from tvm import relax

def prepacked():
    '''y = relu(x @ W), x float32 [32, 128], legalized, fused, its weight marked layout-free.'''
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((32, 128), "float32"))
    weight = np.random.default_rng(0).standard_normal((128, 128)).astype("float32")
    w = relax.const(weight)
    with bb.function("main", [x]):
        with bb.dataflow():
            out = bb.emit_output(bb.emit(relax.op.nn.relu(relax.op.matmul(x, w))))
        bb.emit_func_output(out)
    # the passes planctl runs before tuning when prepack_weights is on (planctl.lowering.build)
    passes = [relax.transform.LegalizeOps(), relax.transform.AnnotateTIROpPattern(), relax.transform.FoldConstant(),
              relax.transform.FuseOps(), relax.transform.FuseTIR(), relax.transform.AttachAttrLayoutFreeBuffers()]
    with tvm.target.Target({target}):
        return tvm.transform.Sequential(passes)(bb.get()), weight
"""

SERVE = MODULE + """
import json, sys
from pathlib import Path
from planctl.lowering.build import apply_database, make_target
from planctl.tuning.budget import Budget
from planctl.tuning.governed import GovernedCache
from planctl.tuning.keys import make_key, this_device
from planctl.tuning.store import Store

mod, weight = prepacked()
target = make_target({target})
store = Store.open(Path(sys.argv[1]))
key, here = make_key({target}, "tiny"), this_device({target})
store.ensure_key(key); store.ensure_device(here)
cache = GovernedCache(store, key, here)
imported = cache.import_records(Path(sys.argv[2]), {{"plan": "tiny"}})
report = cache.tune(mod, target, Budget(trials=0, wall_clock_s=60, trials_per_task=0), seed=0,
                    plan=("tiny", ""), allow_drift=False)
scheduled, n, total = apply_database(mod, target, cache.database())
with target, tvm.transform.PassContext(opt_level=3):  # ... and after: the weight's new layout, folded
    scheduled = relax.transform.FoldConstant()(relax.transform.SplitLayoutRewritePreproc()(scheduled))
vm = relax.VirtualMachine(relax.build(scheduled, target=target), tvm.cpu())
x = np.random.default_rng(1).uniform(-1, 1, (32, 128)).astype("float32")
got = vm["main"](tvm.runtime.tensor(x)).numpy()
print(json.dumps({{"imported": imported, "trials": report.trials_spent, "scheduled": n, "total": total,
                  "max_abs": float(np.abs(got - np.maximum(x @ weight, 0)).max())}}))
"""


def test_layout_rewrites_round_trip_through_store_export_import_and_serve(tmp_path: Path):
    from planctl.lowering.build import make_target
    from planctl.tuning.budget import Budget
    from planctl.tuning.governed import GovernedCache
    from planctl.tuning.keys import make_key, this_device
    from planctl.tuning.store import Store

    scope: dict = {}
    exec(MODULE.format(target=TARGET), scope)  # noqa: S102 - the test's own module text, shared with SERVE
    mod, _ = scope["prepacked"]()
    store = Store.open(tmp_path / "tuned")
    key, here = make_key(TARGET, "tiny"), this_device(TARGET)
    store.ensure_key(key)
    store.ensure_device(here)
    cache = GovernedCache(store, key, here)
    tuned = cache.tune(mod, make_target(TARGET), Budget(trials=4, wall_clock_s=300, trials_per_task=4), seed=0,
                       plan=("tiny", ""), allow_drift=False)
    assert tuned.trials_spent > 0
    records = store.records()
    assert any(r.valid for r in records)
    assert any("TransformLayout" in r.trace for r in records), "prepacking asked for no layout rewrite"
    exported = tmp_path / "export"
    assert cache.export([t.workload_hash for t in tuned.tasks], exported) >= 1
    assert "TransformLayout" in (exported / "records.jsonl").read_text()

    script = tmp_path / "serve.py"
    script.write_text(SERVE.format(target=TARGET))
    done = subprocess.run([sys.executable, str(script), str(tmp_path / "fresh"), str(exported / "records.jsonl")],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    served = json.loads(done.stdout.strip().splitlines()[-1])
    assert served["imported"] >= 1 and served["trials"] == 0
    assert served["scheduled"] == served["total"] == 1
    assert served["max_abs"] < 1e-3
