"""The ONNX model's graph inputs against the plan's ``workload.inputs``: names, dtypes, ranks and
static dims. ``planctl check`` runs it (rule PLN224), as does apply's import.

``check`` must stay fast and free of TVM and numpy (a pre-commit hook), and the ``onnx`` package
imports numpy; so :func:`read_declarations` reads the few fields it needs straight from the
protobuf wire format (ModelProto.graph: its inputs' names and tensor types, its initializers'
names; field numbers from onnx/onnx.proto), skipping the weights by their length, from a memory
map (a 90 MB model is not read whole). apply, which has the ``onnx`` model at hand, converts it with
:func:`from_proto`.

A plan dim the production shape leaves unbound (a symbolic import; ``shape_env`` empty for
``check``) must be symbolic in the graph too: an exporter that fixed it baked the value into
Reshape constants, and a build at another value would compute wrong results.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ONNX_DTYPES = {1: "float32", 2: "uint8", 3: "int8", 5: "int16", 6: "int32", 7: "int64", 9: "bool",
               10: "float16", 11: "float64", 16: "bfloat16"}
REEXPORT = "re-export the model, e.g. torch.onnx.export(..., dynamo=True)"


class UnreadableModel(ValueError):
    """The file is not an ONNX model (truncated, text, another format)."""


@dataclass(frozen=True)
class GraphInput:
    """One graph input as declared: ``elem_type`` the ONNX TensorProto.DataType (None: not a
    tensor); ``dims`` (dim_value or None, dim_param) per dim, or None when no shape is declared."""

    name: str
    elem_type: int | None
    dims: tuple[tuple[int | None, str], ...] | None


@dataclass(frozen=True)
class Mismatch:
    """One way the graph's inputs differ from the plan's; ``input``: the plan's input at fault
    (None: the set of names, when no entry of the plan's is wrong: the model has one more);
    ``key``: the member of that entry at fault (``name`` for a renamed input), else the whole entry."""

    message: str
    hint: str
    input: str | None = None
    key: str | None = None


def read_declarations(path: Path) -> list[GraphInput]:
    """The graph inputs of the ONNX model at ``path`` that are not initializers, in graph order.
    Raises UnreadableModel when the file is not a ModelProto with a graph."""
    return _read_graph(path, _graph_inputs)


def read_output_names(path: Path) -> list[str]:
    """The graph outputs' names of the ONNX model at ``path``, in graph order (GraphProto output = 12,
    ValueInfoProto name = 1). Raises UnreadableModel as :func:`read_declarations` does."""
    return _read_graph(path, lambda graph: [_text(dict(_fields(v, {1})).get(1)) for _, v in _fields(graph, {12})])


def _read_graph(path: Path, read):
    """``read(graph)`` on the GraphProto of the ModelProto at ``path``, mapped, not parsed whole."""
    import mmap

    try:
        if path.stat().st_size == 0:
            raise UnreadableModel("not a valid ONNX model: the file is empty")
        with open(path, "rb") as fh:
            # not closed here: slices of it live until parsing is done; unmapped when collected
            data = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        model = dict(_fields(memoryview(data), {1, 7}))
        if 1 not in model or 7 not in model:
            raise ValueError("no ir_version or no graph")
        return read(model[7])
    except UnreadableModel:
        raise
    except (ValueError, OSError) as exc:   # a bad varint, length or wire type; an unreadable file
        raise UnreadableModel(f"not a valid ONNX model: {_plainly(path, str(exc))}") from None


def _plainly(path: Path, detail: str) -> str:
    """What the file is, in words a user reads at a glance, then the parser's ``detail``: a text or
    HTML file (a saved error page, a pointer file) names its first line."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(512)
    except OSError:
        return detail
    text = _as_text(head)
    if text is not None:
        first = text.strip().splitlines()[0][:60] if text.strip() else ""
        kind = "an HTML page" if first.lower().startswith(("<!doctype html", "<html")) else "text"
        return f"the file is {kind}, not an ONNX protobuf (it starts {first!r}; {detail})"
    if detail.startswith("truncated"):
        return f"the file ends inside the model, as a truncated download or copy does; {detail}"
    return f"the file is not an ONNX protobuf; {detail}"


def _as_text(head: bytes) -> str | None:
    """``head`` decoded when it reads as UTF-8 text (no NUL, few control characters), else None."""
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:   # only a character cut at the end of the 512 bytes is still text
            return None
        text = head[:exc.start].decode("utf-8")
    if not text or "\0" in text:
        return None
    controls = sum(1 for c in text if ord(c) < 32 and c not in "\t\n\r")
    return text if controls <= len(text) // 100 else None


def leaves_folder(location: str) -> bool:
    """Whether an external data ``location`` is absolute or climbs out of the model's folder
    (ONNX refuses both)."""
    import os

    lexical = os.path.normpath(location)
    return Path(location).is_absolute() or lexical == ".." or lexical.startswith(".." + os.sep)


def may_name_external_data(path: Path) -> bool:
    """False when the file cannot name external data: every external tensor carries the key
    ``location`` in its ``external_data`` entries, so a file without those bytes has none. A byte
    scan (tens of ms for 90 MB) instead of a parse keeps check and an up-to-date apply fast."""
    try:
        with open(path, "rb") as fh:
            tail = b""
            for chunk in iter(lambda: fh.read(1 << 22), b""):
                if b"location" in tail + chunk:
                    return True
                tail = chunk[-16:]
    except OSError:
        return True   # let the parse report it
    return False


def external_locations(path: Path) -> dict[str, int]:
    """The external data files the ONNX model at ``path`` names (ONNX ``external_data``: tensors
    stored outside the ``.onnx`` file, in the graph's initializers and its nodes' tensor attributes,
    subgraphs included): {``location`` as written, relative to the model's folder: the bytes the
    model reads from it (the largest ``offset + length``; 0 where no tensor gives a length)}. Empty
    when there are none or the file cannot be read. Wire format: GraphProto node = 1, initializer =
    5; NodeProto attribute = 5; AttributeProto t = 5, g = 6, tensors = 10, graphs = 11; TensorProto
    external_data = 13 (StringStringEntryProto key = 1, value = 2), data_location = 14 (1: EXTERNAL)."""
    import mmap

    if not may_name_external_data(path):
        return {}
    try:
        with open(path, "rb") as fh:
            data = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        graph = dict(_fields(memoryview(data), {7})).get(7)
        found: dict[str, int] = {}
        if graph is not None:
            _graph_locations(graph, found)
        return found
    except (ValueError, OSError):
        return {}


def _graph_locations(graph: memoryview, found: dict[str, int]) -> None:
    for number, value in _fields(graph, {1, 5}):
        if number == 5:
            _tensor_location(value, found)
            continue
        for _, attribute in _fields(value, {5}):
            for kind, item in _fields(attribute, {5, 6, 10, 11}):
                (_tensor_location if kind in (5, 10) else _graph_locations)(item, found)


def _tensor_location(tensor: memoryview, found: dict[str, int]) -> None:
    fields = list(_fields(tensor, {13, 14}))
    if not any(n == 14 and v == 1 for n, v in fields):
        return
    entries = {}
    for number, entry in fields:
        if number == 13:
            pair = dict(_fields(entry, {1, 2}))
            entries[_text(pair.get(1))] = _text(pair.get(2))
    if "location" in entries:
        offset, length = (_count(entries.get(key)) for key in ("offset", "length"))
        found[entries["location"]] = max(found.get(entries["location"], 0), offset + length if length else 0)


def _count(text: str | None) -> int:
    return int(text) if text and text.isdigit() else 0


_PASS_THROUGH = {"Cast", "Identity", "Reshape", "Flatten", "Squeeze", "Unsqueeze"}   # index values unchanged


def embedding_rows(path: Path) -> dict[str, tuple[int, str]]:
    """Graph inputs used as the indices of a Gather over an initializer (an embedding lookup), directly
    or through ops that keep the values (Cast, Reshape, ...): {input name: (the table's rows, its
    name)}; the input's valid values are 0 .. rows - 1 (ONNX Gather: indices index axis 0, the
    default). Empty when the file cannot be read."""
    parts = _graph_parts(path)
    if parts is None:
        return {}
    tables, nodes, inputs = parts
    rows = {name: (dims[0] if dims else None) for name, (dims, _) in tables.items()}
    return {name: found for name, found in _gathered(nodes, rows).items() if name in inputs}


def sliced_tables(path: Path) -> dict[tuple[str, int], tuple[int, str]]:
    """Graph input dims that set how much of an initializer a Slice takes (a position table: BERT's
    ``position_ids[:, :seq]``, ``Slice(table, starts=[0], ends=Shape(input)[1:2], axes=[1])``):
    {(input name, axis): (the most the table holds along the sliced axis, its name)}. A larger dim
    cannot run: the Slice stops at the table's end and the shapes after it disagree. Empty when the
    file cannot be read."""
    parts = _graph_parts(path)
    if parts is None:
        return {}
    tables, nodes, inputs = parts
    dims_of = {out: (inp[0], attrs.get("start", 0)) for op, inp, outs, attrs in nodes for out in outs[:1]
               if op == "Shape" and inp and inp[0] in inputs and attrs.get("end", attrs.get("start", 0) + 1)
               == attrs.get("start", 0) + 1}
    found: dict[tuple[str, int], tuple[int, str]] = {}
    for op, inp, _, _ in nodes:
        if op != "Slice" or len(inp) < 3 or inp[0] not in tables or inp[2] not in dims_of:
            continue
        dims = tables[inp[0]][0]
        starts = tables.get(inp[1], ((), None))[1]
        axes = tables.get(inp[3], ((), None))[1] if len(inp) > 3 and inp[3] else [0]
        if not dims or starts is None or axes is None or len(starts) != 1 or len(axes) != 1:
            continue
        axis = axes[0] + len(dims) if axes[0] < 0 else axes[0]
        if 0 <= axis < len(dims) and 0 <= starts[0] < dims[axis]:
            limit = (dims[axis] - starts[0], inp[0])
            found[dims_of[inp[2]]] = min(found.get(dims_of[inp[2]], limit), limit)
    return found


def _graph_parts(path: Path):
    """(initializers {name: (dims, its int64 values when it has at most 8, else None)}, nodes [(op_type,
    inputs, outputs, {int attribute name: value})], graph input names), or None when the file cannot
    be read. Read from the wire format as :func:`read_declarations` (GraphProto: node = 1,
    initializer = 5, input = 11; NodeProto: input = 1, output = 2, op_type = 4, attribute = 5;
    TensorProto: dims = 1, data_type = 2, int64_data = 7, name = 8, raw_data = 9)."""
    import mmap

    try:
        with open(path, "rb") as fh:
            data = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        graph = dict(_fields(memoryview(data), {7})).get(7)
        if graph is None:
            return None
        tables, nodes, inputs = {}, [], set()
        for number, value in _fields(graph, {1, 5, 11}):
            if number == 11:
                inputs.add(_value_info(value).name)
            elif number == 5:
                tensor = list(_fields(value, {1, 2, 7, 8, 9}))
                tables[_text(next((v for n, v in tensor if n == 8), None))] = (
                    _ints([v for n, v in tensor if n == 1]), _small_int64s(tensor))
            else:
                node = list(_fields(value, {1, 2, 4, 5}))
                nodes.append((_text(next((v for n, v in node if n == 4), None)),
                              [_text(v) for n, v in node if n == 1], [_text(v) for n, v in node if n == 2],
                              _int_attributes(v for n, v in node if n == 5)))
    except (ValueError, OSError):
        return None
    return tables, nodes, inputs


# the default domain's opsets a model may import: onnxruntime "only guarantees support for models
# stamped with opset version 7 or above" (its load warning); 28 is onnx 1.23's newest
# (onnx.defs.onnx_opset_version()), which onnxruntime 1.32 loads
MIN_OPSET, MAX_OPSET = 7, 28
MAX_IR_VERSION = 14   # onnx 1.23's onnx.IR_VERSION: its checker refuses a model of a higher one
DEFAULT_DOMAINS = ("", "ai.onnx")


def graph_problems(path: Path) -> list[str]:
    """What makes a readable ModelProto one no runtime loads, as ``onnx.checker`` would say it, read
    from the wire format (ModelProto: ir_version = 1, opset_import = 8, graph = 7;
    OperatorSetIdProto: domain = 1, version = 2; GraphProto: node = 1, initializer = 5, input = 11,
    sparse_initializer = 15; NodeProto: input = 1, output = 2, name = 3, op_type = 4, domain = 7): an
    IR version past MAX_IR_VERSION, a domain imported twice, the default domain's opset outside
    MIN_OPSET .. MAX_OPSET, a node of a domain the model does not import, a top-level node
    that reads a value no graph input, initializer or earlier node makes (not topologically sorted,
    or dangling). Empty when the file cannot be read (read_declarations says why)."""
    import mmap

    try:
        with open(path, "rb") as fh:
            data = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        model = list(_fields(memoryview(data), {1, 7, 8, 25}))
        opsets, problems = {}, []
        for number, value in model:
            if number == 8:
                fields = dict(_fields(value, {1, 2}))
                domain = "" if _text(fields.get(1)) == "ai.onnx" else _text(fields.get(1))
                if domain in opsets:
                    problems.append(f"it imports the {domain or 'default ONNX'} domain twice (opsets "
                                    f"{opsets[domain]} and {fields.get(2, 0)})")
                opsets[domain] = fields.get(2, 0)
        ir_version = next((v for n, v in model if n == 1), None)
        if isinstance(ir_version, int) and ir_version > MAX_IR_VERSION:
            problems.append(f"its IR version is {ir_version}; onnx's checker reads up to {MAX_IR_VERSION}")
        graph = next((v for n, v in model if n == 7), None)
        if graph is None:
            return []
        problems += _opset_problems(opsets)
        known = {""}
        nodes = []
        for number, value in _fields(graph, {1, 5, 11, 15}):
            if number == 1:
                fields = list(_fields(value, {1, 2, 3, 4, 7}))
                nodes.append({n: [_text(v) for k, v in fields if k == n] for n in (1, 2, 3, 4, 7)})
            elif number == 15:   # SparseTensorProto: values = 1 (a TensorProto, name = 8)
                values = dict(_fields(value, {1})).get(1)
                known.add(_text(dict(_fields(values, {8})).get(8)) if values is not None else "")
            else:
                known.add(_text(dict(_fields(value, {1 if number == 11 else 8})).get(1 if number == 11 else 8)))
    except (ValueError, OSError):
        return []
    functions = frozenset(_text(dict(_fields(value, {1})).get(1)) for n, value in model if n == 25)
    return problems + _node_problems(nodes, opsets, known, functions)


def _operator_problem(op: str, opsets: dict[str, int], functions: frozenset[str]) -> str | None:
    """Why a default-domain node's ``op`` no runtime resolves: not an ONNX operator (onnxruntime: "No
    Op registered"), or one newer than the opset the model imports. None when it is fine, or is one
    of the model's own functions (ModelProto.functions = 25, FunctionProto.name = 1)."""
    from planctl.documents.onnx_ops import FIRST_OPSET

    if op in functions:
        return None
    first = FIRST_OPSET.get(op)
    if first is None:
        return f"'{op}' is not an operator of the default ONNX domain (a custom op needs its own domain)"
    version = next((opsets[d] for d in DEFAULT_DOMAINS if d in opsets), None)
    if isinstance(version, int) and version < first:
        return f"ONNX defines {op} from opset {first}; the model imports opset {version}"
    return None


def _opset_problems(opsets: dict[str, int]) -> list[str]:
    version = next((opsets[d] for d in DEFAULT_DOMAINS if d in opsets), None)
    if version is None:
        return ["it imports no opset of the default ONNX domain"]
    if not MIN_OPSET <= version <= MAX_OPSET:
        return [f"it imports ONNX opset {version}; onnxruntime supports opsets {MIN_OPSET} to {MAX_OPSET}"]
    return []


def _node_problems(nodes: list[dict], opsets: dict[str, int], known: set[str],
                   functions: frozenset[str] = frozenset()) -> list[str]:
    problems = []
    for node in nodes:
        name, op = (node[3] or [""])[0], (node[4] or ["?"])[0]
        label = f"node '{name}' ({op})" if name else f"a {op} node"
        domain = (node[7] or [""])[0]
        if domain not in DEFAULT_DOMAINS and domain not in opsets:
            problems.append(f"{label} is of domain '{domain}', which the model does not import (opset_import)")
        elif domain in DEFAULT_DOMAINS and (trouble := _operator_problem(op, opsets, functions)):
            problems.append(f"{label}: {trouble}")
        unknown = [name for name in node[1] if name not in known]
        if unknown:
            problems.append(f"{label} reads '{unknown[0]}' before any graph input, initializer or earlier node "
                            "makes it (the graph is not topologically sorted, or the value is dangling)")
        known.update(node[2])
        if len(problems) >= 3:
            break
    return problems


def _small_int64s(tensor: list) -> list[int] | None:
    """An int64 TensorProto's values (data_type 7), from int64_data or little-endian raw_data, when it
    holds at most 8 (an index or axis constant); None otherwise."""
    if dict((n, v) for n, v in tensor if n == 2).get(2) != 7:
        return None
    raw = next((v for n, v in tensor if n == 9), None)
    values = ([int.from_bytes(bytes(raw[i:i + 8]), "little", signed=True) for i in range(0, len(raw), 8)]
              if raw is not None else _ints([v for n, v in tensor if n == 7]))
    values = [v - (1 << 64) if v >= 1 << 63 else v for v in values]
    return values if len(values) <= 8 else None


def _gathered(nodes: list, rows: dict[str, int | None]) -> dict[str, tuple[int, str]]:
    source = {}   # a value name -> the graph input whose values it carries unchanged
    for op, inputs, outputs, _ in nodes:
        if op in _PASS_THROUGH and inputs and inputs[0] not in rows:
            source.update({out: source.get(inputs[0], inputs[0]) for out in outputs[:1]})
    found = {}
    for op, inputs, _, attrs in nodes:
        if op == "Gather" and len(inputs) == 2 and attrs.get("axis", 0) == 0 and rows.get(inputs[0]):
            found.setdefault(source.get(inputs[1], inputs[1]), (rows[inputs[0]], inputs[0]))
    return found


def _int_attributes(attributes) -> dict[str, int]:
    """A node's int attributes (AttributeProto: name = 1, i = 3), e.g. Gather's ``axis`` (absent: the
    op's default applies) or Shape's ``start`` and ``end``."""
    found = {}
    for attribute in attributes:
        fields = dict(_fields(attribute, {1, 3}))
        if 3 in fields:
            value = fields[3]
            found[_text(fields.get(1))] = value - (1 << 64) if value >= 1 << 63 else value
    return found


def _ints(values: list) -> list[int]:
    """A repeated int64 field's values, written unpacked (varints) or packed (one length-delimited run)."""
    out = []
    for value in values:
        if isinstance(value, int):
            out.append(value)
        else:
            pos = 0
            while pos < len(value):
                number, pos = _varint(value, pos)
                out.append(number)
    return out


def from_proto(model) -> list[GraphInput]:
    """:class:`GraphInput` of an ``onnx.ModelProto`` (what apply's import has loaded)."""
    initializers = {i.name for i in model.graph.initializer}
    out = []
    for value in (v for v in model.graph.input if v.name not in initializers):
        tensor = value.type.tensor_type if value.type.HasField("tensor_type") else None
        dims = None if tensor is None or not tensor.HasField("shape") else tuple(
            (d.dim_value if d.HasField("dim_value") else None, d.dim_param) for d in tensor.shape.dim)
        out.append(GraphInput(value.name, tensor.elem_type if tensor is not None else None, dims))
    return out


def _graph_inputs(graph: memoryview) -> list[GraphInput]:
    initializers, inputs = set(), []
    for number, value in _fields(graph, {5, 11, 15}):
        if number == 5:      # initializer: TensorProto, name = 8
            initializers.add(_text(dict(_fields(value, {8})).get(8)))
        elif number == 15:   # sparse_initializer: SparseTensorProto, values = 1 (a TensorProto)
            values = dict(_fields(value, {1})).get(1)
            initializers.add(_text(dict(_fields(values, {8})).get(8)) if values is not None else "")
        else:
            inputs.append(_value_info(value))
    return [i for i in inputs if i.name not in initializers]


def _value_info(value: memoryview) -> GraphInput:
    fields = dict(_fields(value, {1, 2}))               # ValueInfoProto: name = 1, type = 2
    kinds = dict(_fields(fields[2], {1})) if 2 in fields else {}   # TypeProto: tensor_type = 1
    if 1 not in kinds:
        return GraphInput(_text(fields.get(1)), None, None)
    tensor = dict(_fields(kinds[1], {1, 2}))            # Tensor: elem_type = 1, shape = 2
    dims = None
    if 2 in tensor:
        dims = tuple(_dim(d) for n, d in _fields(tensor[2], {1}))   # TensorShapeProto: dim = 1
    return GraphInput(_text(fields.get(1)), tensor.get(1, 0), dims)


def _dim(dim: memoryview) -> tuple[int | None, str]:
    fields = dict(_fields(dim, {1, 2}))                 # Dimension: dim_value = 1, dim_param = 2
    value = fields.get(1)
    return (value - (1 << 64) if value is not None and value >= 1 << 63 else value), _text(fields.get(2))


def _text(value) -> str:
    return bytes(value).decode("utf-8", "replace") if value is not None else ""


def _fields(data: memoryview, wanted: set[int]):
    """(field number, value) of the protobuf message ``data`` for the numbers in ``wanted``:
    an int for a varint, a memoryview for a length-delimited field; others are skipped. Raises
    ValueError on a malformed or truncated message."""
    pos, end = 0, len(data)
    while pos < end:
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 2:
            length, pos = _varint(data, pos)
            if pos + length > end:
                raise ValueError("truncated (a field runs past the end of the file)")
            value, pos = data[pos:pos + length], pos + length
        elif wire in (1, 5):
            value, pos = None, pos + (8 if wire == 1 else 4)
        else:
            raise ValueError(f"protobuf wire type {wire} at byte {pos - 1}, which ONNX never writes")
        if number == 0 or pos > end:
            raise ValueError("malformed (field 0, or a value past the end)")
        if number in wanted:
            yield number, value


def _varint(data: memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("truncated or malformed varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def concrete_shape(shape, shape_env: dict[str, int]) -> list:
    """The plan's input ``shape`` with the dims ``shape_env`` binds replaced by their values; a dim
    it leaves unbound stays its name (a symbolic import)."""
    return [shape_env.get(d, d) if isinstance(d, str) else int(d) for d in shape]


def mismatches(graph_inputs: list[GraphInput], input_specs, shape_env: dict[str, int]) -> list[Mismatch]:
    """Every difference between the graph's inputs (initializers excluded: read_declarations or
    from_proto) and ``input_specs`` (the plan's ``workload.inputs``: name, dtype, shape) at
    ``shape_env``; empty when they agree."""
    by_name = {i.name: i for i in graph_inputs}
    declared = [spec.name for spec in input_specs]
    if sorted(by_name) != sorted(declared):
        # located at the first entry whose name the model lacks: the line the user has to edit
        plan_only = [name for name in declared if name not in by_name]
        return [Mismatch(f"the model's inputs {sorted(by_name)} do not match the plan's {sorted(declared)}",
                         "spec.workload.inputs must name every graph input exactly once"
                         + _renamed(sorted(plan_only), sorted(set(by_name) - set(declared))),
                         plan_only[0] if plan_only else None, "name" if plan_only else None)]
    found = [_input_mismatch(by_name[spec.name], spec, shape_env) for spec in input_specs]
    return [m for m in found if m is not None]


def _renamed(plan_only: list[str], model_only: list[str]) -> str:
    """``; the model has input_ids where the plan says input_idz``: each of the plan's names the model
    lacks, paired with the model's closest unclaimed one (difflib), when there is one."""
    import difflib

    pairs = [(name, difflib.get_close_matches(name, model_only, n=1, cutoff=0.5)) for name in plan_only]
    said = [f"the model has {match[0]} where the plan says {name}" for name, match in pairs if match]
    return "; " + "; ".join(said) if said else ""


def _input_mismatch(graph_input: GraphInput, spec, shape_env: dict[str, int]) -> Mismatch | None:
    elem = graph_input.elem_type
    dtype = "not a tensor" if elem is None else ONNX_DTYPES.get(elem, f"onnx-type-{elem}")
    if dtype != spec.dtype:
        return Mismatch(f"input '{spec.name}' is {dtype} in the model but {spec.dtype} in the plan",
                        f"declare dtype: {dtype} in spec.workload.inputs, or re-export the model with "
                        f"{spec.dtype} inputs", spec.name, "dtype")
    if graph_input.dims is None:
        return None   # declared without a shape: any rank, the plan's shape is what it gets
    want = concrete_shape(spec.shape, shape_env)
    have = [value for value, _ in graph_input.dims]
    if len(have) != len(want):
        model_shape = [value if value is not None else (param or "?") for value, param in graph_input.dims]
        return Mismatch(f"input '{spec.name}' has rank {len(have)} in the model ({model_shape}) but the plan "
                        f"declares rank {len(want)} ({list(spec.shape)})",
                        "declare the input's shape as the model has it in spec.workload.inputs, or export the "
                        "model for the plan's shape", spec.name, "shape")
    fixed = [(dim, h) for dim, h in zip(spec.shape, have) if isinstance(dim, str) and dim not in shape_env
             and h is not None]
    if fixed:
        dim, value = fixed[0]
        return Mismatch(f"the exporter fixed dim `{dim}` of input '{spec.name}' to {value} (static shape {have} "
                        f"in the model): it cannot be built for other values of {dim}",
                        f"export with {dim} dynamic (torch.export dynamic_shapes, then torch.onnx.export(..., "
                        "dynamo=True)); examples/minilm/export.py shows how", spec.name, "shape")
    if any(h is not None and isinstance(w, int) and h != w for h, w in zip(have, want)):
        declared = "[" + ", ".join(str(v) if v is not None else (p or "?") for v, p in graph_input.dims) + "]"
        asked = (f"the bucket {', '.join(f'{k}={v}' for k, v in shape_env.items())} needs "
                 f"[{', '.join(str(w) for w in want)}]") if shape_env else f"the plan declares {list(spec.shape)}"
        return Mismatch(f"input '{spec.name}' has static dims in the model ({declared}), but {asked}",
                        "export the model with dynamic dims (or re-export it for this shape): the exporter "
                        "bakes static dims into Reshape constants, so importing at another shape gives wrong "
                        "results", spec.name, "shape")
    return None
