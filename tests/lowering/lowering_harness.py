"""Helpers of the lowering tests: plan technique models and the passes the registry maps them to."""
from __future__ import annotations

import tvm


def technique(name: str, **fields):
    """The plan model of one technique (``enabled`` and its required fields defaulted)."""
    from pydantic import TypeAdapter

    from planctl.documents.models.plan import Technique

    return TypeAdapter(Technique).validate_python({"technique": name, **fields})


def run_technique(mod, name: str, target, **fields):
    """``mod`` after the passes the technique registry maps ``name`` to, in order, under ``target``."""
    from planctl.lowering.techniques import REGISTRY

    passes = REGISTRY[name].passes(technique(name, **fields), target)
    with target, tvm.transform.PassContext(opt_level=3):
        for p in passes:
            mod = p(mod)
    return mod
