"""JSON pointer -> source position index of one YAML document.

Positions are 1-based ``(line, col)`` as editors show them; ``end`` is where the node's text ends
(exclusive column), when known. A mapping member also remembers where its key starts, so findings
about a whole block (``envelope:``) point at the key rather than at the first line below it.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Span:
    """Where one node sits: value start/end and, for mapping members, the key start."""

    line: int
    col: int
    end_line: int | None = None
    end_col: int | None = None
    key_line: int | None = None
    key_col: int | None = None
    collection: bool = False


def escape(token: str) -> str:
    """RFC 6901 escaping of one reference token."""
    return str(token).replace("~", "~0").replace("/", "~1")


def unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def join(pointer: str, token) -> str:
    return f"{pointer}/{escape(token)}"


def split(pointer: str) -> list[str]:
    """``"/a/b~1c"`` -> ``["a", "b/c"]``; ``""`` -> ``[]``."""
    return [unescape(t) for t in pointer.split("/")[1:]] if pointer else []


class SourceIndex:
    """Maps JSON pointers (``/spec/envelope/parity``) to :class:`Span`.

    Pointers that are not in the index (a missing field, a node inside an alias) resolve to their
    nearest indexed ancestor, so every lookup gives a position inside the file.
    """

    def __init__(self, spans: dict[str, Span] | None = None):
        self._spans: dict[str, Span] = spans if spans is not None else {}

    def add(self, pointer: str, span: Span) -> None:
        self._spans[pointer] = span

    def __contains__(self, pointer: str) -> bool:
        return pointer in self._spans

    def span(self, pointer: str) -> Span:
        """The span of ``pointer`` or of its nearest indexed ancestor (1:1 when nothing is)."""
        while pointer not in self._spans and pointer:
            pointer = pointer.rsplit("/", 1)[0]
        return self._spans.get(pointer, Span(1, 1))

    def locate(self, pointer: str) -> tuple[int, int, int | None, int | None]:
        """``(line, col, end_line, end_col)`` for ``pointer``: the value of a scalar, the key of a
        mapping member whose value is a block collection, the nearest ancestor when absent."""
        span = self.span(pointer)
        if span.collection and span.key_line is not None:
            return span.key_line, span.key_col, span.end_line, span.end_col
        return span.line, span.col, span.end_line, span.end_col

    def locate_key(self, pointer: str) -> tuple[int, int, int | None, int | None]:
        """Like :meth:`locate` but on the key of a mapping member (for unknown and duplicate keys)."""
        span = self.span(pointer)
        if span.key_line is None:
            return self.locate(pointer)
        return span.key_line, span.key_col, span.end_line, span.end_col
