"""Document models: frozen pydantic v2 models with ``extra="forbid"``; the JSON Schemas under
``schemas/`` are generated from them (``planctl schema dump``)."""
from planctl.documents.models.lock import Lock
from planctl.documents.models.plan import OptimizationPlan
from planctl.documents.models.target import Target

KINDS = {"OptimizationPlan": OptimizationPlan, "Target": Target, "Lock": Lock}

__all__ = ["KINDS", "Lock", "OptimizationPlan", "Target"]
