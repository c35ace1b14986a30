"""The arguments MetaSchedule's runners time candidates on: in range for gathers.

MetaSchedule's default (``default_alloc_argument``) fills every argument with
``tvm.contrib.random.random_fill_for_measure``, integer tensors included. A gather kernel
(``relax.take`` in TVM's fast mode, which the ONNX importer emits for ``Gather``; see
planctl.lowering.gathers) reads ``table[index]`` without a bounds check, so random int64 indices
read far outside the table and every candidate crashes the runner: the embedding gathers of a
transformer never got a schedule. Here integer tensors are filled with uniform values in
``[0, bound)``, ``bound`` the smallest extent of any floating-point argument (at least 1): an index
below every extent is in range for a gather along any axis of any table among the arguments, so a
candidate that is correct cannot read out of bounds. Floating-point tensors are filled as
MetaSchedule fills them.

The indices repeat a few rows more than real token ids do (a table's rows are then warmer in cache):
the absolute time of a gather candidate is optimistic, the order of its candidates (how well each
schedule vectorizes and parallelizes the copy) is what the search needs.
"""
from __future__ import annotations

INTEGER_PREFIXES = ("int", "uint")


def index_bound(args_info) -> int:
    """The smallest extent of any floating-point tensor among ``args_info`` (MetaSchedule's JSON
    argument info: ``("TENSOR", dtype, shape)``), at least 1; 1 when there is none."""
    extents = [int(d) for kind, dtype, shape in _tensors(args_info) if not _integer(dtype) for d in shape]
    return max(1, min(extents)) if extents else 1


def _tensors(args_info):
    return [tuple(info) for info in args_info if info and info[0] == "TENSOR"]


def _integer(dtype: str) -> bool:
    return str(dtype).startswith(INTEGER_PREFIXES)


def host_arrays(args_info, seed: int = 0) -> list:
    """One set of arguments as numpy arrays: integers in ``[0, index_bound)``, floats uniform in [-1, 1)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    bound = index_bound(args_info)
    arrays = []
    for kind, dtype, shape in (tuple(info) for info in args_info):
        if kind != "TENSOR":
            raise NotImplementedError(f"argument kind {kind}")
        if _integer(dtype):
            arrays.append(rng.integers(0, bound, size=shape).astype(dtype))
        else:
            arrays.append(rng.uniform(-1.0, 1.0, size=shape).astype(dtype))
    return arrays


def in_range_alloc_argument(device, args_info, alloc_repeat: int) -> list[list]:
    """A LocalRunner ``f_alloc_argument``: ``alloc_repeat`` argument lists on ``device``, floats
    filled by MetaSchedule's ``random_fill_for_measure``, integers in ``[0, index_bound(args_info))``."""
    import tvm

    fill = tvm.get_global_func("tvm.contrib.random.random_fill_for_measure", allow_missing=True)
    repeated = []
    for repeat in range(alloc_repeat):
        args = []
        for (kind, dtype, shape), array in zip((tuple(i) for i in args_info), host_arrays(args_info, seed=repeat)):
            tensor = tvm.runtime.empty(shape=shape, dtype=dtype, device=device)
            if _integer(dtype) or fill is None:
                tensor.copyfrom(array)
            else:
                fill(tensor)
            args.append(tensor)
        repeated.append(args)
    return repeated


def in_range_alloc_argument_rpc(session, device, args_info, alloc_repeat: int) -> list[list]:
    """An RPCRunner ``f_alloc_argument`` (same arguments as :func:`in_range_alloc_argument`, on the
    RPC session's device): every tensor copied from host arrays, as the remote may lack the filler."""
    import tvm

    repeated = []
    for repeat in range(alloc_repeat):
        args = []
        for (kind, dtype, shape), array in zip((tuple(i) for i in args_info), host_arrays(args_info, seed=repeat)):
            tensor = tvm.runtime.empty(shape=shape, dtype=dtype, device=device)
            tensor.copyfrom(array)
            args.append(tensor)
        repeated.append(args)
    return repeated
