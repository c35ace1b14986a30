"""Padding a call up to its shape bucket and slicing the outputs back (numpy only).

A call's inputs are padded along each symbolic dim to the bucket's size: positions added along a
sequence dim take the input's pad value (the tokenizer's pad token id for token ids; 0 for an
attention mask, which marks them as padding), and rows added along the batch dim repeat the
call's last row, so every padded row stays inside the input domains that parity verified (an
all-zero mask row would not). The outputs are sliced back along every axis the model's graph
declares with a symbolic dim. That this leaves the call's own outputs unchanged is a property of
the model (the mask makes the padding inert, and rows are independent); apply checks it at every
bucket against the reference (planctl.apply.stages.verify), and the runtime pads only where the
manifest says it was checked.

``contract``: the manifest's ``dims`` (``{dim: [[input, axis], ...]}``), ``pad``
(``{input: value}``) and ``output_dims`` (``{output: [dim or null, ...]}``).
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np


def call_shape(inputs: Mapping[str, np.ndarray], dims: Mapping[str, Sequence[Sequence]]) -> dict[str, int]:
    """The value of every symbolic dim in ``inputs`` (``dims``: dim -> [[input, axis], ...]).
    Raises ValueError when two inputs disagree on a dim or an input is missing or too small."""
    found: dict[str, int] = {}
    for dim, places in dims.items():
        for name, axis in places:
            if name not in inputs:
                raise ValueError(f"missing input '{name}'")
            array = np.asarray(inputs[name])
            if array.ndim <= axis:
                raise ValueError(f"input '{name}' has {array.ndim} axes; its axis {axis} is the dim {dim}")
            size = int(array.shape[axis])
            if size == 0:
                raise ValueError(f"input '{name}' is empty along axis {axis} (dim {dim}): a call needs at least one")
            if found.setdefault(dim, size) != size:
                raise ValueError(f"inputs disagree on dim {dim}: {found[dim]} and {size} (input '{name}' axis {axis})")
    return found


def pad_inputs(inputs: Mapping[str, np.ndarray], bucket: Mapping[str, int], dims: Mapping[str, Sequence[Sequence]],
               pad: Mapping[str, float], batch_dim: str | None) -> dict[str, np.ndarray]:
    """``inputs`` padded up to ``bucket``: ``batch_dim`` (the dim rows are independent along)
    by repeating the last row, every other dim with the input's ``pad`` value. Inputs without a
    symbolic dim pass unchanged. Raises ValueError when a dim is larger than the bucket."""
    axes: dict[str, list[tuple[int, str]]] = {}
    for dim, places in dims.items():
        for name, axis in places:
            axes.setdefault(name, []).append((int(axis), dim))
    out = {}
    for name, value in inputs.items():
        array = np.asarray(value)
        for axis, dim in sorted(axes.get(name, [])):
            missing = int(bucket[dim]) - array.shape[axis]
            if missing < 0:
                raise ValueError(f"input '{name}' axis {axis} ({dim}={array.shape[axis]}) is larger than the "
                                 f"bucket's {bucket[dim]}")
            if missing == 0:
                continue
            if dim == batch_dim:
                last = np.take(array, [array.shape[axis] - 1], axis=axis)
                array = np.concatenate([array, np.repeat(last, missing, axis=axis)], axis=axis)
            else:
                widths = [(0, 0)] * array.ndim
                widths[axis] = (0, missing)
                array = np.pad(array, widths, constant_values=np.asarray(pad.get(name, 0)).astype(array.dtype))
        out[name] = np.ascontiguousarray(array)
    return out


def slice_outputs(outputs: Sequence[np.ndarray], names: Sequence[str], output_dims: Mapping[str, Sequence],
                  call: Mapping[str, int]) -> list[np.ndarray]:
    """Each output cut back to the call's size along the axes ``output_dims`` names a dim for."""
    out = []
    for i, array in enumerate(outputs):
        name = names[i] if i < len(names) else f"output_{i}"
        index = tuple(slice(0, call[d]) if d in call else slice(None) for d in (output_dims.get(name) or []))
        out.append(np.ascontiguousarray(array[index]) if index else array)
    return out


def batch_dim(dims: Mapping[str, Sequence[Sequence]]) -> str | None:
    """The dim rows are independent along: the one every input carries on axis 0 (None if none)."""
    for dim, places in dims.items():
        if places and all(int(axis) == 0 for _, axis in places):
            return dim
    return None
