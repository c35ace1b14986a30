"""Read one YAML file into plain (JSON-like) data plus a :class:`SourceIndex`, with limits.

This walks ruamel.yaml's event stream (the parser the round-trip loader uses) instead of building
ruamel's node or round-trip objects: one pass gives start *and* end marks for every node, keeps the
walk iterative (no recursion, so deep nesting cannot blow the stack), sees duplicate keys with their
positions, and lets aliases be counted as they expand (billion laughs is rejected after
:data:`MAX_NODES` nodes, not after filling memory). Timestamps stay strings: the data is JSON-like
and the models parse dates themselves.

Plans are YAML 1.2 whatever the file says: scalars are resolved with the 1.2 core rules (``yes`` and
``on`` are strings, ``010`` is ten), and a ``%YAML`` directive for another version is a finding
(PLN109) at the directive's line.

Fatal problems (file unreadable, not YAML, over a limit) raise :class:`Unparsable`; problems that
leave a usable document (duplicate keys, a second document) come back as ``issues``.
"""
from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from planctl.documents.positions import SourceIndex, Span, join

MAX_BYTES = 1 << 20     # 1 MiB: real plans are a few KiB; bigger is a mistake or an attack
MAX_DEPTH = 64          # nesting levels of mappings and sequences
MAX_NODES = 100_000     # nodes after alias expansion (a plan has a few hundred)
YAML_VERSION = (1, 2)

_STR, _INT, _FLOAT = "tag:yaml.org,2002:str", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"
_BOOL, _NULL, _TIME = "tag:yaml.org,2002:bool", "tag:yaml.org,2002:null", "tag:yaml.org,2002:timestamp"
_MAP, _SEQ = "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_VALUE = "tag:yaml.org,2002:value"     # ruamel resolves a plain `=` so; YAML 1.2 core: a string
_MERGE = type("MergeKey", (), {"__repr__": lambda self: "<<"})()   # the `<<` key marker


@dataclass
class Issue:
    """A problem found while reading: rule id, JSON pointer, message, help, 1-based position."""

    rule: str
    message: str
    line: int = 1
    col: int = 1
    pointer: str = ""
    help: str | None = None
    end_line: int | None = None
    end_col: int | None = None


class Unparsable(Exception):
    """The file cannot be read as one YAML mapping (exit 2); ``issue`` says where and why."""

    def __init__(self, issue: Issue):
        super().__init__(issue.message)
        self.issue = issue


@dataclass
class Source:
    """What :func:`read_source` returns: the data, its index, the sha256 of the bytes, and the
    non-fatal issues (duplicate keys, extra documents) in file order."""

    data: Any
    index: SourceIndex
    sha256: str
    issues: list[Issue] = field(default_factory=list)


def read_bytes(path: Path) -> bytes:
    """The file's bytes; over :data:`MAX_BYTES` or unreadable raises :class:`Unparsable` (the size
    is checked before reading, so a 10 MB file costs nothing)."""
    try:
        size = os.stat(path).st_size
        if size > MAX_BYTES:
            raise Unparsable(Issue("PLN108", f"file is {size} bytes, more than the {MAX_BYTES} allowed",
                                   help="plans and targets are small; is this the right file?"))
        with open(path, "rb") as fh:
            raw = fh.read(MAX_BYTES + 1)
    except OSError as exc:
        raise Unparsable(Issue("PLN107", f"cannot read file: {exc.strerror or exc}")) from None
    if len(raw) > MAX_BYTES:
        raise Unparsable(Issue("PLN108", f"file is more than the {MAX_BYTES} bytes allowed"))
    return raw


def decode(raw: bytes) -> str:
    """UTF-8 text (a BOM is dropped); binary or other encodings raise :class:`Unparsable`."""
    if b"\x00" in raw:
        line = raw[: raw.index(b"\x00")].count(b"\n") + 1
        raise Unparsable(Issue("PLN100", "file is binary (it contains NUL bytes)", line=line,
                               help="plans and targets are UTF-8 YAML text"))
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise Unparsable(Issue("PLN100", f"file is not UTF-8 text (byte 0x{raw[exc.start]:02x})",
                               line=line, help="save the file as UTF-8")) from None


def read_source(path: Path) -> Source:
    """Read, decode and parse ``path``; raises :class:`Unparsable` for exit-2 problems."""
    import hashlib

    raw = read_bytes(path)
    text = decode(raw)
    _check_flow_depth(text)
    builder = _Builder()
    builder.run(text)
    if builder.documents == 0 or builder.root is _NOTHING:
        raise Unparsable(Issue("PLN107", "file holds no YAML document",
                               help="start from `planctl init`"))
    if not isinstance(builder.root, dict):
        raise Unparsable(Issue("PLN107", f"top level is {describe(builder.root)}, not a mapping",
                               line=builder.root_line, help="a document is a mapping with apiVersion, "
                               "kind, metadata and spec"))
    return Source(builder.root, builder.index, hashlib.sha256(raw).hexdigest(), builder.issues)


_DEEP_FLOW = re.compile(r"[\[{](?:\s*[\[{]){%d}" % MAX_DEPTH)


def _check_flow_depth(text: str) -> None:
    """Reject a run of more than :data:`MAX_DEPTH` flow openers (``[[[[...``) before parsing: the
    YAML scanner keeps every ``[`` as a possible key and its look-ahead is quadratic in them."""
    match = _DEEP_FLOW.search(text)
    if match:
        line = text.count("\n", 0, match.start()) + 1
        col = match.start() - (text.rfind("\n", 0, match.start()) + 1) + 1
        raise Unparsable(Issue("PLN108", f"nesting is deeper than {MAX_DEPTH} levels", line=line,
                               col=col, help="plans are a few levels deep"))


def describe(value: Any) -> str:
    """``a string``, ``an integer``... for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return {int: "an integer", float: "a number", str: "a string", list: "a list",
            dict: "a mapping"}.get(type(value), type(value).__name__)


_NOTHING = object()


@dataclass
class _Frame:
    """A mapping or sequence being built: its pointer, container, pending key, node count."""

    container: Any
    pointer: str
    start: Any               # ruamel Mark of the collection start
    anchor: str | None
    key_span: tuple[int, int] | None      # where this collection's own key is (mapping member)
    key: Any = _NOTHING                   # pending key of a mapping (before its value arrives)
    key_mark: Any = None
    nodes: int = 1
    merged: set = field(default_factory=set)   # keys that came from `<<: *anchor`


class _Builder:
    """Consumes ruamel events; builds ``root`` (plain data), ``index`` and ``issues``."""

    def __init__(self):
        self.root: Any = _NOTHING
        self.root_line = 1
        self.index = SourceIndex()
        self.issues: list[Issue] = []
        self.documents = 0
        self.nodes = 0
        self.anchors: dict[str, tuple[Any, int]] = {}
        self.stack: list[_Frame] = []

    def run(self, text: str) -> None:
        from ruamel.yaml import YAML
        from ruamel.yaml.error import MarkedYAMLError, YAMLError

        yaml = YAML(typ="safe", pure=True)
        self.resolver = _yaml12_resolver()  # not the parser's: that one follows `%YAML 1.1`
        self.text = text
        try:
            for event in yaml.parse(text):
                if self._event(event):
                    break
        except MarkedYAMLError as exc:
            raise Unparsable(_syntax_issue(exc, text)) from None
        except YAMLError as exc:  # reader errors (control characters) carry no mark
            raise Unparsable(Issue("PLN100", f"not valid YAML: {exc}")) from None

    # -- events ---------------------------------------------------------------------------------
    def _event(self, event) -> bool:
        """Handle one event; True stops the walk (a second document was seen)."""
        name = type(event).__name__
        if name == "DocumentStartEvent":
            self.documents += 1
            if self.documents == 1 and event.version and tuple(event.version) != YAML_VERSION:
                self.issues.append(_version_issue(self.text, event))
            if self.documents > 1:
                mark = event.start_mark
                self.issues.append(Issue("PLN106", "file holds more than one YAML document; only "
                                         "the first is validated", line=mark.line + 1, col=mark.column + 1,
                                         help="put each document in its own file"))
                return True
        elif name == "ScalarEvent":
            self._scalar(event)
        elif name in ("MappingStartEvent", "SequenceStartEvent"):
            self._open(event, {} if name == "MappingStartEvent" else [])
        elif name in ("MappingEndEvent", "SequenceEndEvent"):
            self._close(event)
        elif name == "AliasEvent":
            self._alias(event)
        return False

    def _scalar(self, event) -> None:
        value = self._convert(event)
        frame = self.stack[-1] if self.stack else None
        if event.anchor:
            self.anchors[event.anchor] = (value, 1)
        if frame is not None and isinstance(frame.container, dict) and frame.key is _NOTHING:
            self._set_key(frame, value, event.start_mark)
            return
        self._count(1, event.start_mark)
        pointer, key_span = self._slot()
        self.index.add(pointer, _span(event.start_mark, event.end_mark, key_span, False))
        self._place(value, event.start_mark)

    def _open(self, event, container) -> None:
        frame = self.stack[-1] if self.stack else None
        if frame is not None and isinstance(frame.container, dict) and frame.key is _NOTHING:
            raise Unparsable(_issue("PLN100", "mapping keys must be plain scalars, not collections",
                                    event.start_mark))
        if len(self.stack) >= MAX_DEPTH:
            raise Unparsable(_issue("PLN108", f"nesting is deeper than {MAX_DEPTH} levels",
                                    event.start_mark, help="plans are a few levels deep"))
        _check_tag(event, _MAP if isinstance(container, dict) else _SEQ)
        self._count(1, event.start_mark)
        pointer, key_span = self._slot()
        self.stack.append(_Frame(container, pointer, event.start_mark, event.anchor, key_span))

    def _close(self, event) -> None:
        frame = self.stack.pop()
        self.index.add(frame.pointer, _span(frame.start, event.end_mark, frame.key_span, True))
        if frame.anchor:
            self.anchors[frame.anchor] = (frame.container, frame.nodes)
        if self.stack:
            self.stack[-1].nodes += frame.nodes
        self._place(frame.container, frame.start)

    def _alias(self, event) -> None:
        if event.anchor not in self.anchors:
            raise Unparsable(_issue("PLN100", f"alias *{event.anchor} refers to no anchor (or to one "
                                    "still being defined)", event.start_mark))
        value, size = self.anchors[event.anchor]
        frame = self.stack[-1] if self.stack else None
        if frame is not None and isinstance(frame.container, dict) and frame.key is _NOTHING:
            self._set_key(frame, value, event.start_mark)
            return
        self._count(size, event.start_mark)
        pointer, key_span = self._slot()
        self.index.add(pointer, _span(event.start_mark, event.end_mark, key_span, False))
        self._place(value, event.start_mark)

    # -- helpers --------------------------------------------------------------------------------
    def _count(self, n: int, mark) -> None:
        """Charge ``n`` nodes (an alias charges its whole expanded size) against :data:`MAX_NODES`."""
        self.nodes += n
        if self.stack:
            self.stack[-1].nodes += n
        if self.nodes > MAX_NODES:
            raise Unparsable(_issue("PLN108", f"document expands to more than {MAX_NODES} nodes "
                                    "(aliases that multiply, e.g. a billion-laughs file)", mark,
                                    help="avoid nested anchors/aliases"))

    def _set_key(self, frame: _Frame, key, mark) -> None:
        if isinstance(key, (dict, list)):
            raise Unparsable(_issue("PLN100", "mapping keys must be plain scalars", mark))
        frame.key = key
        frame.key_mark = mark

    def _slot(self) -> tuple[str, tuple[int, int] | None]:
        """Pointer of the node about to be placed, and its key position when it is a member."""
        if not self.stack:
            return "", None
        frame = self.stack[-1]
        if isinstance(frame.container, dict):
            return join(frame.pointer, key_token(frame.key)), (frame.key_mark.line + 1,
                                                                 frame.key_mark.column + 1)
        return join(frame.pointer, len(frame.container)), None

    def _place(self, value, mark) -> None:
        if not self.stack:
            self.root, self.root_line = value, mark.line + 1
            return
        frame = self.stack[-1]
        if isinstance(frame.container, list):
            frame.container.append(value)
            return
        key, key_mark = frame.key, frame.key_mark
        frame.key, frame.key_mark = _NOTHING, None
        if key is _MERGE:
            self._merge(frame, value, key_mark)
            return
        if key in frame.merged:
            frame.merged.discard(key)      # an explicit key overrides a merged one (YAML merge)
        elif key in frame.container:
            self.issues.append(Issue("PLN105", f"duplicate key `{key}`", line=key_mark.line + 1,
                                     col=key_mark.column + 1, pointer=join(frame.pointer, key_token(key)),
                                     help=f"`{key}` is defined more than once in this mapping and "
                                     "only the last one would count; keep one"))
        frame.container[key] = value

    def _merge(self, frame: _Frame, value, mark) -> None:
        """``<<: *base`` or ``<<: [*a, *b]``: copy keys the mapping does not set itself."""
        sources = value if isinstance(value, list) else [value]
        if not all(isinstance(src, dict) for src in sources):
            raise Unparsable(_issue("PLN100", "`<<` merges mappings only", mark))
        for src in sources:
            for key, item in src.items():
                if key not in frame.container:
                    frame.container[key] = item
                    frame.merged.add(key)

    def _convert(self, event):
        from ruamel.yaml.nodes import ScalarNode

        tag = event.tag or str(self.resolver.resolve(ScalarNode, event.value, event.implicit))
        tag = str(tag)
        if event.tag in ("!",):
            tag = _STR
        try:
            return _SCALARS[tag](event.value)
        except KeyError:
            raise Unparsable(_issue("PLN100", f"unsupported YAML tag {tag}", event.start_mark,
                                    help="plans use plain YAML: strings, numbers, booleans, "
                                    "null, lists and mappings")) from None
        except ValueError:
            raise Unparsable(_issue("PLN100", f"{event.value!r} is not a valid {tag.rsplit(':', 1)[-1]}",
                                    event.start_mark)) from None


@functools.cache
def _yaml12_resolver():
    """ruamel's scalar resolver with the version fixed at 1.2 (a constant, where ruamel's looks the
    version up through the loader on every scalar)."""
    from ruamel.yaml.resolver import VersionedResolver

    class Yaml12Resolver(VersionedResolver):
        @property
        def processing_version(self):
            return YAML_VERSION

    return Yaml12Resolver(version=YAML_VERSION)


def key_token(key) -> str:
    """JSON pointer token of a key: YAML ``true``/``1``/``null`` keys as JSON would spell them."""
    if key is None:
        return "null"
    if isinstance(key, bool):
        return "true" if key else "false"
    return str(key)


def _to_int(text: str) -> int:
    text = text.replace("_", "")
    sign = -1 if text.startswith("-") else 1
    body = text.lstrip("+-").lower()
    for prefix, base in (("0x", 16), ("0o", 8), ("0b", 2)):
        if body.startswith(prefix):
            return sign * int(body[2:], base)
    return sign * int(body)


def _to_bool(text: str) -> bool:
    """``true``/``false`` in any case the 1.2 core schema allows; anything else (an explicit
    ``!!bool yes``) is not a boolean rather than silently false."""
    if text.lower() not in ("true", "false"):
        raise ValueError(text)
    return text.lower() == "true"


def _to_float(text: str) -> float:
    body = text.replace("_", "").lower()
    if body.lstrip("+-") in (".inf", ".nan"):
        return float(body.replace(".", ""))
    return float(body)


_SCALARS = {
    _STR: str, _TIME: str, _VALUE: str, _MERGE_TAG: lambda text: _MERGE,
    _INT: _to_int, _FLOAT: _to_float,
    _BOOL: _to_bool,
    _NULL: lambda text: None,
}


def _check_tag(event, expected: str) -> None:
    tag = event.tag
    if tag is not None and str(tag) not in (expected, "!"):
        raise Unparsable(_issue("PLN100", f"unsupported YAML tag {tag}", event.start_mark,
                                help="plans use plain YAML: no language-specific tags"))


def _version_issue(text: str, event) -> Issue:
    """PLN109 at the ``%YAML`` directive that precedes the document started by ``event``."""
    version = ".".join(str(part) for part in event.version)
    head = text[: event.start_mark.index]
    match = None
    for match in re.finditer(r"^%YAML\b[^\n]*", head, re.MULTILINE):
        pass  # the last directive before the document is the one in force
    line = head.count("\n", 0, match.start()) + 1 if match else event.start_mark.line + 1
    end_col = len(match.group(0).rstrip()) + 1 if match else None
    return Issue("PLN109", f"the file declares YAML {version}; plans are YAML 1.2", line=line,
                 col=1, end_line=line if match else None, end_col=end_col,
                 help="remove the `%YAML` line: it was read as YAML 1.2 (under 1.1, `yes`, `no`, "
                 "`on` and `off` would be booleans and `010` octal)")


def _span(start, end, key_span, collection: bool) -> Span:
    key_line, key_col = key_span if key_span else (None, None)
    return Span(start.line + 1, start.column + 1, end.line + 1, end.column + 1, key_line, key_col,
                collection)


def _issue(rule: str, message: str, mark, help: str | None = None) -> Issue:
    return Issue(rule, message, line=mark.line + 1, col=mark.column + 1, help=help)


# the parser's names for the tokens it met, as a person reads them
_TOKENS = {"'?'": "a new key", "'<stream end>'": "the end of the file", "'<document end>'": "the end of the document",
           "'<block end>'": "the end of an indented block", "'<block mapping start>'": "an indented mapping",
           "'<block sequence start>'": "an indented list"}


def _token_words(problem: str) -> str:
    """``expected ',' or ']', but got '?'`` -> ``... but got a new key``."""
    head, sep, token = problem.rpartition("but found ") if "but found " in problem else problem.rpartition("but got ")
    return f"{head}{sep}{_TOKENS.get(token, token)}" if sep else problem


def _syntax_issue(exc, text: str = "") -> Issue:
    """A ruamel Scanner/Parser error as a PLN100 issue at its problem mark, or where an unclosed
    bracket or quote of ``text`` (the document) opened."""
    mark = exc.problem_mark or exc.context_mark
    problem = _token_words((exc.problem or "syntax error").strip())
    message = f"invalid YAML: {problem}"
    if exc.context:
        message += f" ({exc.context.strip()})"
    hint = None
    if "\t" in problem or "'\\t'" in problem:
        hint = _tab_hint(text, mark)
    elif "mapping values are not allowed" in problem:
        hint = "a `:` inside a plain value needs quotes, or the line is mis-indented"
    unclosed = _UNCLOSED.get((exc.context or "").strip())
    if unclosed and exc.context_mark is not None and mark is not exc.context_mark:
        # the parser notices an unclosed bracket or quote lines later; the mistake is where it opened
        noticed = f"{mark.line + 1}:{mark.column + 1}" if mark else "the end of the file"
        mark, hint = exc.context_mark, f"{unclosed} (the parser noticed at {noticed})"
    elif mark is not None and (opened := _quote_left_open(text, mark.line)) is not None:
        # a quote left open mid-file ends at the next line's quote, and the parser fails after it
        open_line, open_col, quote = opened
        hint = (f"this `{quote}` may never be closed: YAML read the string on to the next `{quote}` (the parser "
                f"noticed at {mark.line + 1}:{mark.column + 1}); end the string on its line")
        return Issue("PLN100", message, line=open_line + 1, col=open_col + 1, help=hint)
    line = mark.line + 1 if mark else 1
    col = mark.column + 1 if mark else 1
    return Issue("PLN100", message, line=line, col=col, help=hint)


def _tab_hint(text: str, mark) -> str:
    """Where the tab is decides the fix: in the indentation, or after a key's ``:`` or a value."""
    lines = text.splitlines()
    before = lines[mark.line][:mark.column] if mark is not None and mark.line < len(lines) else ""
    if before.strip():
        return ("YAML allows only spaces after a key's `:` or a value (a tab is shown as a space above); "
                "replace the tab with a space")
    return "YAML forbids tabs for indentation; indent with spaces"


_VALUE_QUOTE = re.compile(r"""(?:^\s*|:\s+|-\s+)(["'])""")
QUOTE_LOOKBACK = 5   # lines above a parse error searched for a quoted value left open


def _quote_left_open(text: str, error_line: int) -> tuple[int, int, str] | None:
    """(line, column, quote), 0-based, of the nearest quoted value that opens on one of the
    :data:`QUOTE_LOOKBACK` lines above ``error_line`` and is not closed on its line; None if none."""
    lines = text.splitlines()
    for i in range(min(error_line, len(lines)) - 1, max(error_line - QUOTE_LOOKBACK, 0) - 1, -1):
        found = None if lines[i].lstrip().startswith("#") else _VALUE_QUOTE.search(lines[i])
        if found is None:
            continue
        quote, rest = found.group(1), lines[i][found.end():]
        closed = (re.search(r'(?<!\\)"', rest) if quote == '"' else quote in rest.replace("''", ""))
        if not closed:
            return i, found.start(1), quote
    return None


_UNCLOSED = {   # ruamel's context of an error inside a construct that was never closed
    "while parsing a flow sequence": "this `[` is never closed: end the list with `]`",
    "while parsing a flow mapping": "this `{` is never closed: end the mapping with `}`",
    "while scanning a quoted scalar": "this quote is never closed: end the string with the same quote",
}
