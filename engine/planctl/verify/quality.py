"""Task quality on a named dataset: the plan's ``envelope.quality`` metric, judged against its goal.

The dataset is a JSON-lines file inside the repository (``spec.envelope.quality.dataset``), read as
data only (``json.loads`` per line: no pickle, no eval, no imports named by the file). An optional
first line ``{"planctl_dataset": {...}}`` describes the file (license, and the ``tokenizer`` that
turns ``text`` rows into model inputs); every other line is one example:

- ``{"text": "..."}``: tokenized with the named tokenizer (a key of :data:`TOKENIZERS`), padded and
  truncated to the plan's sequence length; the tokenizer's ``input_ids``/``attention_mask``/
  ``token_type_ids`` feed the plan inputs of the same names;
- ``{"inputs": {name: nested list}}``: one example's arrays, shaped like the plan input without its
  leading batch dim;
- either may carry ``"label": int`` (needed by ``accuracy``).

Examples are batched to the production shape (the leading dim of every input); the last batch is
filled by repeating its last example, and the filler outputs are discarded.

Metrics (output 0 of the model, one value per example, the metric is their mean):
``cosine-similarity`` of the model's output to the reference's; ``top1-agreement``: the argmax over
the last axis equals the reference's; ``accuracy``: the argmax equals the row's ``label``.

Reference (what the candidate's outputs are compared with): the model ``envelope.quality.reference``
declares, run by onnxruntime (for a plan whose model is already quantized, the float model it came
from), else the plan's own model run by onnxruntime, which then only shows that the build matches
onnxruntime on the same graph. The record names which model and which runtime it was.

Baseline (what ``max-degradation`` goals resolve against): onnxruntime running the plan's model is
the stand-in for the baseline build, measured on the whole dataset against the reference. The baseline TVM build is TVM's
default build of the same fp32 graph, but untuned it takes seconds per call (MiniLM: ~4 s per
batch of 2, ~2 min for 64 sentences), so it is evaluated on the first ``baseline_batches`` batches
only and recorded beside (``baseline_build``) as evidence that the stand-in holds. For the two
agreement metrics the reference scores 1.0 by definition.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from planctl.errors import VerificationError
from planctl.documents.datasets import HEADER_KEY, MAX_DATASET_BYTES, TEXT_FEEDS, TOKENIZERS, parse_rows
from planctl.verify.strategies import numpy_dtype, plan_spec_of, resolve_shape

Model = Callable[[dict[str, np.ndarray]], Sequence[np.ndarray]]



# ------------------------------------------------------------------------------------- dataset
@dataclass(frozen=True)
class Dataset:
    """Rows of a quality dataset (header removed), the header's ``meta`` and the file's sha256."""

    path: Path
    rows: list[dict]
    meta: dict
    sha256: str


def load_dataset(root: Path, relative: str, *, plan_file: str = "") -> Dataset:
    """Read the dataset at ``root/relative``. Raises MissingReferenceError when the path leaves the
    repository root, VerificationError when the file is missing, too large or not valid JSON lines."""
    from planctl.documents.references import inside_root

    path = inside_root(Path(root), relative, what="quality dataset", plan_file=plan_file,
                       pointer="/spec/envelope/quality/dataset")
    if not path.is_file():
        raise VerificationError(f"quality dataset {relative} does not exist", file=plan_file or None,
                                hint="commit the dataset next to the plan, or fix envelope.quality.dataset")
    if path.stat().st_size > MAX_DATASET_BYTES:
        raise VerificationError(f"quality dataset {relative} is larger than {MAX_DATASET_BYTES >> 20} MiB",
                                hint="keep the quality set small and reviewable")
    raw = path.read_bytes()
    rows, meta = parse_rows(raw, relative)
    return Dataset(path, rows, meta, hashlib.sha256(raw).hexdigest())


def _tokenize(dataset: Dataset, texts: list[str], length: int) -> dict[str, np.ndarray]:
    name = dataset.meta.get("tokenizer")
    if name not in TOKENIZERS:
        raise VerificationError(f"{dataset.path.name}: text rows need a known tokenizer in the "
                                f"{HEADER_KEY} header, found {name!r}",
                                hint=f"known tokenizers: {', '.join(sorted(TOKENIZERS))}")
    try:
        tokenizer = TOKENIZERS[name]()
    except ImportError as exc:
        raise VerificationError(f"tokenizer {name} is not installed: {exc}") from exc
    tokenizer.enable_truncation(max_length=length)
    tokenizer.enable_padding(length=length)
    encoded = tokenizer.encode_batch(texts)
    return {"input_ids": np.array([e.ids for e in encoded]),
            "attention_mask": np.array([e.attention_mask for e in encoded]),
            "token_type_ids": np.array([e.type_ids for e in encoded])}


def example_arrays(dataset: Dataset, plan_spec: Any, shape_env: Mapping[str, int],
                   indices: Sequence[int] | None = None) -> tuple[dict[str, np.ndarray], int]:
    """``({input name: array [N, *shape[1:]]}, batch)`` for the rows at ``indices`` (all by default).

    Raises VerificationError when a row does not fit the plan's inputs."""
    spec = plan_spec_of(plan_spec)
    rows = [dataset.rows[i] for i in (range(len(dataset.rows)) if indices is None else indices)]
    shapes = {inp.name: resolve_shape(inp, dict(shape_env)) for inp in spec.workload.inputs}
    batches = {s[0] for s in shapes.values() if s}
    if len(batches) != 1 or any(not s for s in shapes.values()):
        raise VerificationError(f"quality needs a shared leading batch dim on every input, got {shapes}")
    out: dict[str, list] = {name: [] for name in shapes}
    text_rows = [r for r in rows if "inputs" not in r]
    tokens: dict[str, np.ndarray] = {}
    if text_rows:
        lengths = {s[1] for s in shapes.values() if len(s) == 2}
        if len(lengths) != 1 or any(len(s) != 2 for s in shapes.values()):
            raise VerificationError("text rows need [batch, sequence] inputs; use `inputs` rows instead")
        tokens = _tokenize(dataset, [str(r["text"]) for r in text_rows], lengths.pop())
    t = 0
    for position, row in enumerate(rows):
        example = f"{dataset.path.name}: example {(indices[position] if indices is not None else position) + 1}"
        for inp in spec.workload.inputs:
            want = shapes[inp.name][1:]
            if "inputs" in row:
                try:
                    arr = np.asarray(row["inputs"][inp.name], dtype=numpy_dtype(inp.dtype))
                except (KeyError, TypeError, ValueError) as exc:
                    raise VerificationError(f"{dataset.path.name}: a row's `inputs` lacks or mangles "
                                            f"{inp.name!r} ({exc})") from exc
            elif inp.name in tokens:
                arr = tokens[inp.name][t].astype(numpy_dtype(inp.dtype))
            else:
                raise VerificationError(f"{dataset.path.name}: the tokenizer gives {list(TEXT_FEEDS)}, "
                                        f"not the model input {inp.name!r}")
            if arr.shape != tuple(want):
                arr = _fitted(arr, want, inp, f"{example}'s {inp.name}")
            _inside_domain(arr, inp, example)
            out[inp.name].append(arr)
        t += "inputs" not in row
    return {k: np.stack(v) for k, v in out.items()}, batches.pop()


def _inside_domain(arr: np.ndarray, inp: Any, what: str) -> None:
    """VerificationError when an example lies outside its input's domain: the runtime refuses such a
    call, so the quality gate would measure inputs no caller can send (ids past an embedding table
    failed inside onnxruntime, naming no example)."""
    from planctl.runtime.load import check_domain

    try:
        check_domain(inp.name, arr[None], inp.domain.model_dump())   # one row, as a call of batch 1
    except ValueError as exc:
        raise VerificationError(f"{what}: {exc}", hint="quality examples must be calls the runtime serves: fix "
                                "the rows, or the plan's domain if the rows are right") from None


def _fitted(arr: np.ndarray, want: Sequence[int], inp: Any, what: str) -> np.ndarray:
    """An ``inputs`` row's array padded up to the bucket's shape ``want`` at the end of each symbolic
    axis, with the input's ``pad`` (0 for an attention mask, which marks the positions as padding), as
    the runtime pads a call up to its bucket (planctl.runtime.padding; apply checks that padding is
    inert at every bucket). Raises VerificationError for another rank, a fixed axis of another size,
    or an axis longer than the bucket's."""
    symbolic = [isinstance(d, str) for d in inp.shape[1:]]
    if arr.ndim != len(want) or any(a != w and not free for a, w, free in zip(arr.shape, want, symbolic)):
        raise VerificationError(f"{what} has shape {list(arr.shape)}, the plan wants {list(want)}",
                                hint="give each example the plan's shape without the batch axis (symbolic "
                                     "axes may be shorter: they are padded up to each bucket)")
    longer = next(((inp.shape[1 + axis], a, w) for axis, (a, w) in enumerate(zip(arr.shape, want)) if a > w), None)
    if longer:
        raise VerificationError(f"{what} has {longer[1]} along {longer[0]}, more than this bucket's {longer[2]}",
                                hint="quality runs every example at every bucket: keep `inputs` rows at most as long "
                                     "as the smallest bucket, or use text rows, which the tokenizer cuts to each bucket")
    pad = 0 if getattr(inp.domain, "kind", None) == "attention-mask" else (inp.pad if inp.pad is not None else 0)
    return np.pad(arr, [(0, w - a) for a, w in zip(arr.shape, want)],
                  constant_values=np.asarray(pad).astype(arr.dtype))


def run_batched(model: Model, arrays: dict[str, np.ndarray], batch: int,
                max_batches: int | None = None) -> np.ndarray:
    """Output 0 of ``model`` for every example (padding the last batch by repetition); with
    ``max_batches`` only that many leading batches run."""
    n = len(next(iter(arrays.values())))
    outs = []
    for b, start in enumerate(range(0, n, batch)):
        if max_batches is not None and b >= max_batches:
            break
        idx = np.minimum(np.arange(start, start + batch), n - 1)
        result = model({k: np.ascontiguousarray(v[idx]) for k, v in arrays.items()})
        first = np.asarray(result[0] if isinstance(result, (list, tuple)) else result)
        outs.append(first[: min(batch, n - start)])
    return np.concatenate(outs)


# ------------------------------------------------------------------------------------- metrics
def _cosine(out: np.ndarray, ref: np.ndarray, _labels) -> np.ndarray:
    a, b = out.reshape(len(out), -1).astype(np.float64), ref.reshape(len(ref), -1).astype(np.float64)
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    dot = (a * b).sum(axis=1)
    # two zero vectors agree; a zero vector against a non-zero one does not
    return np.where((na == 0) & (nb == 0), 1.0, dot / np.maximum(na * nb, 1e-300))


def _top1(out: np.ndarray, ref: np.ndarray, _labels) -> np.ndarray:
    return (out.argmax(axis=-1).reshape(len(out), -1) == ref.argmax(axis=-1).reshape(len(ref), -1)).all(axis=1) * 1.0


def _accuracy(out: np.ndarray, _ref, labels) -> np.ndarray:
    return (out.reshape(len(out), -1).argmax(axis=-1) == labels) * 1.0


# name -> per-example scores(model outputs, reference outputs, labels); the metric is their mean
METRICS: dict[str, Callable[[np.ndarray, np.ndarray, Any], np.ndarray]] = {
    "cosine-similarity": _cosine, "top1-agreement": _top1, "accuracy": _accuracy}


def labels_of(dataset: Dataset, metric: str, indices: Sequence[int] | None = None) -> np.ndarray | None:
    if metric != "accuracy":
        return None
    rows = [dataset.rows[i] for i in (range(len(dataset.rows)) if indices is None else indices)]
    if any(not isinstance(r.get("label"), int) or isinstance(r.get("label"), bool) for r in rows):
        raise VerificationError(f"{dataset.path.name}: accuracy needs an integer `label` on every row")
    return np.array([r["label"] for r in rows])


def scores(metric: str, out: np.ndarray, ref: np.ndarray, labels: np.ndarray | None) -> np.ndarray:
    if metric not in METRICS:
        raise VerificationError(f"unknown quality metric {metric!r}", hint=f"one of {', '.join(METRICS)}")
    if out.shape != ref.shape:
        raise VerificationError(f"quality: output shape {out.shape} != reference shape {ref.shape}")
    return METRICS[metric](out, ref, None if labels is None else labels[: len(out)])


def _g(x: float) -> str:
    return f"{x:.10g}"


def judge(goal: Any, value: float, baseline: float) -> tuple[bool, str]:
    """``(met, sentence)`` of a ``QualityGoal`` (type, value) for ``value`` against ``baseline``."""
    kind, limit = goal.type, float(goal.value)
    if not math.isfinite(value):
        return False, f"metric is {value}"
    if kind == "threshold":
        return value >= limit, f"{_g(value)} {'>=' if value >= limit else '<'} threshold {_g(limit)}"
    drop = baseline - value
    if kind == "max-degradation":
        return drop <= limit, f"{_g(value)}, a drop of {_g(drop)} from baseline {_g(baseline)} (limit {_g(limit)})"
    pct = drop / baseline * 100 if baseline else math.inf
    return pct <= limit, f"{_g(value)}, a drop of {pct:.4g}% from baseline {_g(baseline)} (limit {_g(limit)}%)"


# ------------------------------------------------------------------------------------- evaluate
@dataclass
class QualityResult:
    """The quality verdict of one production shape; ``scores`` (per example) stay out of the record."""

    metric: str
    dataset: str
    dataset_sha256: str
    examples: int
    value: float
    worst: float
    baseline: dict
    goal: dict
    passed: bool
    reason: str
    shape_env: dict
    scores: np.ndarray | None = field(default=None, repr=False)
    reference: dict | None = None   # describe_reference: which model, which runtime

    def to_dict(self) -> dict:
        """JSON-safe (a NaN metric, from a candidate that raised, becomes None)."""
        out = {k: v for k, v in self.__dict__.items() if k != "scores"}
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in out.items()}

    def worst_indices(self, count: int) -> list[int]:
        """Indices of the ``count`` examples that scored lowest (what a bisection probe re-runs)."""
        return sorted(np.argsort(self.scores, kind="stable")[:count].tolist()) if self.scores is not None else []


def describe_reference(model_path: Path | str, root: Path, declared: bool) -> dict:
    """``{model, sha256, runtime, declared}`` of a quality reference (for the record)."""
    from planctl.files import sha256_file

    try:
        import onnxruntime
        runtime = f"onnxruntime {onnxruntime.__version__} (CPUExecutionProvider)"
    except ImportError:   # pragma: no cover - the reference itself needs it
        runtime = "onnxruntime"
    path = Path(model_path)
    try:
        shown = path.resolve().relative_to(Path(root).resolve()).as_posix()
    except ValueError:
        shown = str(path)
    return {"model": shown, "sha256": sha256_file(path), "runtime": runtime, "declared": declared}


QUANTIZED_OPS = ("QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "MatMulInteger", "ConvInteger",
                 "QLinearMatMul", "QLinearConv", "MatMulNBits", "DynamicQuantizeMatMul")


def quantized_ops(model_path: Path | str) -> dict[str, int]:
    """``{op type: count}`` of the quantization operators in an ONNX model's main graph (empty
    for a float model): what says the plan's model is already quantized."""
    import onnx

    counts: dict[str, int] = {}
    for node in onnx.load(str(model_path), load_external_data=False).graph.node:
        if node.op_type in QUANTIZED_OPS:
            counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return counts


def evaluate_quality(candidate: Model, reference: Model, quality: Any, plan_spec: Any,
                     shape_env: Mapping[str, int], root: Path, *, baseline: Model | None = None,
                     baseline_batches: int = 1, plan_file: str = "",
                     indices: Sequence[int] | None = None, stand_in: Model | None = None,
                     reference_info: dict | None = None) -> QualityResult:
    """Score ``candidate`` on the plan's quality dataset and judge ``quality.goal``.

    ``reference``: the model the outputs are compared with (the declared quality reference on
    onnxruntime, else the plan's model on onnxruntime); ``stand_in``: onnxruntime running the
    plan's model, the baseline stand-in scored against ``reference`` (None: ``reference`` is the
    plan's model itself); ``reference_info``: :func:`describe_reference`, for the record;
    ``baseline``: the baseline build, run on ``baseline_batches`` batches for the record;
    ``indices``: evaluate only these rows (a bisection probe). A candidate that raises scores as
    a failure with the exception as the reason. Raises VerificationError when the dataset or a
    reference cannot be evaluated.
    """
    dataset = load_dataset(root, quality.dataset, plan_file=plan_file)
    arrays, batch = example_arrays(dataset, plan_spec, shape_env, indices)
    labels = labels_of(dataset, quality.metric, indices)
    ref = run_batched(reference, arrays, batch)
    stand = run_batched(stand_in, arrays, batch) if stand_in is not None else ref
    base_value = float(scores(quality.metric, stand, ref, labels).mean())
    source = ("onnxruntime running the plan's model, scored against the reference (it stands in for the baseline TVM "
              "build, too slow untuned to run every example)" if stand_in is not None else
              "the reference scored against itself, so 1 for an agreement metric (it stands in for the baseline TVM "
              "build, too slow untuned to run every example)")
    base = {"value": base_value, "source": source, "examples": len(ref)}
    goal = {"type": quality.goal.type, "value": quality.goal.value}
    try:
        out = run_batched(candidate, arrays, batch)
    except Exception as exc:  # noqa: BLE001 - a candidate that raises fails quality, like parity
        reason = f"{quality.metric} on {quality.dataset}: the candidate raised {type(exc).__name__}: {exc}"
        return QualityResult(quality.metric, quality.dataset, dataset.sha256, 0, math.nan, math.nan, base, goal,
                             False, reason, dict(shape_env), None, reference_info)
    per_example = scores(quality.metric, out, ref, labels)
    value = float(per_example.mean())
    if baseline is not None and baseline_batches > 0:
        bout = run_batched(baseline, arrays, batch, max_batches=baseline_batches)
        base["baseline_build"] = {"examples": len(bout), "batches": baseline_batches,
                                  "value": float(scores(quality.metric, bout, ref[: len(bout)], labels).mean())}
    met, sentence = judge(quality.goal, value, base_value)
    against = f" against {reference_info['model']}" if reference_info else ""
    reason = f"{quality.metric} on {quality.dataset}{against}: {sentence}"
    return QualityResult(quality.metric, quality.dataset, dataset.sha256, len(out), value,
                         float(per_example.min()), base, goal, met, reason, dict(shape_env), per_example,
                         reference_info)
