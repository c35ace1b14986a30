"""PLN214 layer-conflict."""
from __future__ import annotations

from planctl.documents.diagnostics import display_path
from planctl.rules.context import Violation
from planctl.rules.registry import rule


def by_workload(plans) -> dict[tuple[str, str, str], list]:
    """(model sha256, target, bottleneck kind) -> plans."""
    index: dict[tuple[str, str, str], list] = {}
    for loaded in plans:
        spec = loaded.model.spec
        for target in spec.targets:
            key = (spec.workload.model.sha256, target, spec.bottleneck.kind)
            index.setdefault(key, []).append(loaded)
    return index


@rule("PLN214", "layer-conflict", "error")
def check(ctx):
    """Two plans for one workload and target do not own the same bottleneck from two layers.

    What it checks
        Across all plans of the repository: no two plans with the same model (``sha256``), a
        common target and the same bottleneck kind declare different ownership layers.

    Why
        The layer that owns a bottleneck is where its fix and its rollback live. Two layers
        fixing one bottleneck race: each plan's evidence was measured without the other, and
        rolling one back does not restore the baseline the other was judged against.

    Example
        ``plans/a.yaml`` owns ``memory-bandwidth`` at the ``kernel`` layer (quantization) and
        ``plans/b.yaml``, same model and target, owns it at the ``runtime`` layer.

    Fix
        Decide which layer owns the bottleneck and merge the plans, or measure again: one of them
        may address a different bottleneck.
    """
    spec = ctx.spec
    index = ctx.repo.index("workloads", by_workload)
    for target in spec.targets:
        key = (spec.workload.model.sha256, target, spec.bottleneck.kind)
        for other in index.get(key, []):
            layer = other.model.spec.bottleneck.layer
            if other is ctx.loaded or layer == spec.bottleneck.layer:
                continue
            yield Violation("/spec/bottleneck/layer", f"{display_path(other.path)} owns the same "
                            f"{spec.bottleneck.kind} bottleneck of this model on {target} from the "
                            f"{layer} layer", key=f"{display_path(other.path)}:{target}",
                            help="one layer owns a bottleneck: merge the plans or re-measure")
