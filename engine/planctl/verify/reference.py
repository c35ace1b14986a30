"""The independent parity reference: the ONNX model run by onnxruntime on CPU.

onnxruntime errors are turned into ``planctl.errors.VerificationError`` here, at the boundary
(STYLE.md, httpx's ``map_exceptions``), so users read one line instead of an ORT traceback; the
original exception stays chained as ``__cause__`` for ``-vv``.
"""
from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import Iterator, Mapping

import numpy as np

from planctl.errors import MissingExtraError, VerificationError

# "[ONNXRuntimeError] : 2 : INVALID_ARGUMENT : Unexpected input data type..." -> the part after the code.
_ORT_PREFIX = re.compile(r"^\[ONNXRuntimeError\]\s*:\s*\d+\s*:\s*\w+\s*:\s*")


def _ort():
    try:
        import onnxruntime
    except ImportError as exc:
        raise MissingExtraError("onnxruntime is not installed", hint="pip install 'planctl[tvm]'") from exc
    return onnxruntime


@contextlib.contextmanager
def ort_errors(what: str) -> Iterator[None]:
    """Map onnxruntime's exceptions (its pybind classes, and the ValueError/TypeError/RuntimeError its
    Python layer raises for bad feeds) to ``VerificationError("<what>: <message on one line>")``."""
    try:
        yield
    except (ValueError, TypeError, RuntimeError, *_ort_exception_types()) as exc:
        text = " ".join(str(exc).split()) or type(exc).__name__   # one line: ORT messages span several
        raise VerificationError(f"{what}: {_ORT_PREFIX.sub('', text)}") from exc


def _ort_exception_types() -> tuple[type[BaseException], ...]:
    from onnxruntime.capi import onnxruntime_pybind11_state as state
    return tuple(v for v in vars(state).values() if isinstance(v, type) and issubclass(v, Exception))


class OnnxRuntimeReference:
    """Callable ``{input name: np.ndarray} -> list[np.ndarray]`` (outputs in the model's order).

    ``model_path``: an ``.onnx`` file; ``intra_op_threads``: onnxruntime's intra-op thread count
    (None: its default, all cores). Uses ``CPUExecutionProvider`` only, so the reference does not
    depend on the accelerator under test. Raises ``VerificationError`` when the model cannot be loaded
    or a run fails (missing/unknown input names are reported before calling onnxruntime).
    """

    def __init__(self, model_path: Path | str, intra_op_threads: int | None = None):
        ort = _ort()
        self.model_path = Path(model_path)
        options = ort.SessionOptions()
        # fatal only: errors are raised as VerificationError, ORT's own log line would repeat them on stderr
        options.log_severity_level = 4
        if intra_op_threads is not None:
            options.intra_op_num_threads = int(intra_op_threads)
        if not self.model_path.is_file():
            raise VerificationError(f"onnxruntime reference: model file {self.model_path} not found")
        with ort_errors(f"onnxruntime could not load {self.model_path}"):
            self._run_options = ort.RunOptions()
            self._run_options.log_severity_level = 4
            self._session = ort.InferenceSession(str(self.model_path), sess_options=options,
                                                 providers=["CPUExecutionProvider"])
        self.input_names = [i.name for i in self._session.get_inputs()]
        self.output_names = [o.name for o in self._session.get_outputs()]
        # name -> declared shape (ints, or None for a symbolic/unknown dim; None for unknown rank)
        self.input_shapes = {i.name: ([d if isinstance(d, int) else None for d in i.shape]
                                      if i.shape is not None else None) for i in self._session.get_inputs()}

    def __call__(self, inputs: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        missing = [n for n in self.input_names if n not in inputs]
        unknown = [n for n in inputs if n not in self.input_names]
        if missing or unknown:
            raise VerificationError(
                f"onnxruntime reference {self.model_path.name}: inputs do not match the model "
                f"(missing {missing}, unknown {unknown}; the model takes {self.input_names})",
                hint="the plan's spec.workload.inputs must name the model's inputs")
        feed = {n: np.asarray(inputs[n]) for n in self.input_names}
        with ort_errors(f"onnxruntime reference {self.model_path.name} failed"):
            return list(self._session.run(self.output_names, feed, self._run_options))

    def __repr__(self) -> str:
        return f"OnnxRuntimeReference({str(self.model_path)!r})"
