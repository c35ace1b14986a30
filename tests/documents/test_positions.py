"""The JSON pointer -> line:col index built while reading YAML."""
from __future__ import annotations

from pathlib import Path

from planctl.documents.positions import SourceIndex, Span, join, split
from planctl.documents.source import read_source

PLAN = Path(__file__).parent / "valid" / "minilm-embed.yaml"


def _line_of(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


def test_scalar_points_at_its_value():
    src = read_source(PLAN)
    text = PLAN.read_text()
    line, col, end_line, end_col = src.index.locate("/spec/optimizations/3/budget/trials")
    assert line == _line_of(text, "trials: 1500")
    assert text.splitlines()[line - 1][col - 1:end_col - 1] == "1500"
    assert end_line == line


def test_block_collection_points_at_its_key():
    src = read_source(PLAN)
    text = PLAN.read_text()
    line, col, _, _ = src.index.locate("/spec/envelope")
    assert (line, col) == (_line_of(text, "  envelope:"), 3)


def test_absent_pointer_falls_back_to_nearest_ancestor():
    src = read_source(PLAN)
    assert src.index.locate("/spec/envelope/nope/deeper")[:2] == src.index.locate("/spec/envelope")[:2]
    assert src.index.locate("/nothing")[:2] == src.index.locate("")[:2]


def test_flow_sequence_items_and_pointer_escaping(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text("a/b:\n  c~d: [1, two]\n")
    src = read_source(path)
    assert src.data == {"a/b": {"c~d": [1, "two"]}}
    assert src.index.locate("/a~1b/c~0d/1")[:2] == (2, 12)
    assert split("/a~1b/c~0d") == ["a/b", "c~d"]
    assert join("", "a/b") == "/a~1b"


def test_scalars_are_json_like(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text("i: 0x1F\nf: 1.5e3\nb: true\nn: ~\nd: 2026-11-20\nyes: no\ninf: -.inf\n")
    data = read_source(path).data
    assert data == {"i": 31, "f": 1500.0, "b": True, "n": None, "d": "2026-11-20",
                    "yes": "no", "inf": float("-inf")}


def test_empty_index_locates_line_one():
    assert SourceIndex().locate("/a/b") == (1, 1, None, None)
    index = SourceIndex({"/a": Span(3, 5, 3, 9)})
    assert index.locate_key("/a") == (3, 5, 3, 9)


def test_merge_keys_and_anchored_keys(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text("base: &b {rtol: 1, atol: 2}\nout:\n  <<: *b\n  atol: 3\n&k key: 1\nother: {*k : 2}\n")
    src = read_source(path)
    assert src.data["out"] == {"rtol": 1, "atol": 3}
    assert src.data["other"] == {"key": 2}
    assert src.issues == []
