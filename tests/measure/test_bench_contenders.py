"""bench/minilm_cpu.py names each --out apart: two applies of one plan for one target (an A/B of two
caches) used to share the name ``planctl:<plan>/<target>``, and the second's figures replaced the first's."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from minilm_cpu import contender_names  # noqa: E402


def test_each_output_gets_the_shortest_path_tail_that_tells_it_apart():
    assert contender_names([Path("out/p/x86-64-avx512")]) == ["planctl"]
    assert contender_names([Path("out/p/x86-64-avx512"), Path("out/p/x86-64-avx2")]) == [
        "planctl:x86-64-avx512", "planctl:x86-64-avx2"]
    assert contender_names([Path("out/p/t"), Path("out/q/t")]) == ["planctl:p/t", "planctl:q/t"]
    assert contender_names([Path("/tmp/a/p/t"), Path("/tmp/b/p/t")]) == ["planctl:a/p/t", "planctl:b/p/t"]


def test_an_output_given_twice_is_refused():
    with pytest.raises(ValueError, match="given twice"):
        contender_names([Path("out/p/t"), Path("out/p/t")])
