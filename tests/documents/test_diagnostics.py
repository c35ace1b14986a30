"""How a finding shows its source line: the caret under the span, invisible characters made
visible, long lines cut around the span (a new user's 300-character name had a 300-character caret,
and a zero-width space in a name showed no line at all)."""
from __future__ import annotations

from planctl.documents.diagnostics import render


def shown(tmp_path, line: str, col: int, end_col: int) -> list[str]:
    path = tmp_path / "p.yaml"
    path.write_text(f"kind: OptimizationPlan\n{line}\n", encoding="utf-8")
    return render("p.yaml:2", "error", "PLN104", "bad", file=str(path), line=2, col=col, end_line=2,
                  end_col=end_col).splitlines()[1:3]


def test_the_caret_underlines_the_span(tmp_path):
    assert shown(tmp_path, "  name: my-plan", 9, 16) == ["2 |   name: my-plan", "            ^^^^^^^"]


def test_a_zero_width_space_is_shown_escaped_and_the_caret_follows_it(tmp_path):
    source, caret = shown(tmp_path, "  name: my\u200bplan", 9, 17)
    assert source == "2 |   name: my\\u200bplan"
    assert caret == " " * len("2 |   name: ") + "^" * len("my\\u200bplan")


def test_a_long_line_is_cut_around_the_span(tmp_path):
    source, caret = shown(tmp_path, "  name: " + "x" * 300, 9, 309)
    assert len(source) < 140 and source.endswith("...")
    assert caret.count("^") <= 120 and caret.index("^") == len("2 |   name: ")
    source, caret = shown(tmp_path, "  labels: {team: " + "y" * 200 + ", bad: 1}", 220, 223)
    assert source.startswith("2 | ...") and caret.count("^") == 3
    assert source[caret.index("^"):caret.index("^") + 3] == "bad"


def test_a_binary_line_shows_no_source(tmp_path):
    path = tmp_path / "model.onnx"
    path.write_bytes(b"\x08\x07\x12\x04onnx\x1a\x02\x01\x03\x05\x06\x0e\x0f")
    assert render("model.onnx:1", "error", "PLN100", "not YAML", file=str(path), line=1, col=1).count("\n") == 0
