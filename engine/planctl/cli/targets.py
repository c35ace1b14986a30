"""``planctl targets``: the repository's targets and whether this host can run each one."""
from __future__ import annotations

import json
from pathlib import Path

import click


@click.command("targets")
@click.option("--root", type=click.Path(file_okay=False, exists=True, path_type=Path), default=Path("."),
              show_default=True, help="Repository root holding targets/.")
@click.option("--output", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def command(root: Path, fmt: str) -> None:
    """List targets/*.yaml: TVM kind and CPU or GPU architecture, and whether this host can run the
    code built for it (the check apply makes before it builds: the ISA features LLVM enables for the
    target's mcpu/mattr against this CPU's flags; the CUDA arch against the GPU). Imports TVM.

    Exit 0; 2 when no target document can be read.
    """
    from planctl.documents.layout import target_files
    from planctl.documents.load import load_target
    from planctl.errors import MissingExtraError, PlanctlError
    from planctl.host import cpu, describe
    from planctl.lowering.compat import support

    files = target_files(root)
    if not files:
        raise PlanctlError(f"no target documents in {root / 'targets'}", hint="pass --root REPO")
    rows = []
    for path in files:
        try:
            spec = load_target(path).model.spec
        except PlanctlError as exc:
            rows.append({"name": path.stem, "file": str(path), "error": exc.message})
            continue
        tvm = dict(spec.tvm)
        row = {"name": path.stem, "file": str(path), "kind": tvm.get("kind"),
               "arch": tvm.get("mcpu") or tvm.get("arch") or "generic", "device": spec.capabilities.device,
               "other_device_records": spec.other_device_records}
        try:
            found = support(tvm)
            row.update(runs_here=found.runs if found.checked else None, why=found.reason(), missing=list(found.missing))
        except MissingExtraError as exc:
            row.update(runs_here=None, why=f"unknown: {exc.message}", missing=[])
        rows.append(row)
    host = describe({"kind": "cpu", **cpu()})
    if fmt == "json":
        click.echo(json.dumps({"host": host, "targets": rows}, indent=2, sort_keys=True))
        return
    lines = [f"targets in {root / 'targets'} (this host: {host})"]
    # columns as wide as their longest entry (a 30-character target name pushed its row out of line)
    name_w = max([18, *(len(r["name"]) for r in rows)])
    kind_w = max([5, *(len(str(r.get("kind", ""))) for r in rows)])
    arch_w = max([14, *(len(str(r.get("arch", ""))) for r in rows)])
    for r in rows:
        if "error" in r:
            lines.append(f"  {r['name']:<{name_w}} unreadable: {r['error']}")
            continue
        lines.append(f"  {r['name']:<{name_w}} {r['kind']:<{kind_w}} {r['arch']:<{arch_w}} runs here: {r['why']}")
    click.echo("\n".join(lines))
