"""Edits planctl makes to a plan file for review: the file is rewritten with ruamel.yaml's
round-trip dumper (comments, key order, quoting and flow style kept), checked to still load as a
valid plan, and replaced atomically, so a failed edit leaves the file as it was."""
from __future__ import annotations

import io
from pathlib import Path
from typing import Sequence

from planctl.errors import DocumentError


def _round_trip():
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096                       # never re-wrap a long line
    yaml.indent(mapping=2, sequence=4, offset=2)   # the plans' style: "  - technique: ..."
    return yaml


def set_keep_float(plan_file: Path, technique_index: int, names: Sequence[str]) -> list[str]:
    """Set ``keep_float`` of ``spec.optimizations[technique_index]`` (a ``quantization``
    technique) to the plan's own names followed by ``names`` (duplicates dropped), as a flow list;
    returns the list written. Raises DocumentError when the technique is not a quantization or the
    edited plan would not load (the file is then untouched)."""
    from ruamel.yaml.comments import CommentedSeq

    from planctl.documents.load import load_plan
    from planctl.files import atomic_write_text

    yaml = _round_trip()
    text = Path(plan_file).read_text(encoding="utf-8")
    data = yaml.load(text)
    technique = data["spec"]["optimizations"][technique_index]
    if technique.get("technique") != "quantization":
        raise DocumentError(f"spec.optimizations[{technique_index}] is not a quantization technique",
                            file=str(plan_file))
    merged = list(dict.fromkeys([*technique.get("keep_float", []), *names]))
    seq = CommentedSeq(merged)
    seq.fa.set_flow_style()
    technique["keep_float"] = seq
    out = io.StringIO()
    yaml.dump(data, out)
    edited = out.getvalue()
    staged = Path(plan_file).with_name(f".{Path(plan_file).name}.keep-float.yaml")
    try:
        staged.write_text(edited, encoding="utf-8")
        load_plan(staged)                      # raises DocumentError when the edit broke the plan
    finally:
        staged.unlink(missing_ok=True)
    atomic_write_text(plan_file, edited)
    return merged
