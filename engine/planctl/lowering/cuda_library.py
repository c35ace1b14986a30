"""Library GEMM routes on CUDA targets (plan technique ``library-dispatch``).

A dense matmul against a constant weight, with what follows it in the graph (the accumulator cast
of mixed precision, a bias add, a residual add), becomes one call of planctl's cuBLASLt extension
(``cuda_ext/cublaslt_gemm.cc``) through ``R.call_dps_packed``:

- ``[astype] -> add(bias)``                 -> ``planctl_cublaslt_gemm_bias``: D = A.W + bias
- ``... -> [astype] -> add(residual)``       -> ``planctl_cublaslt_gemm_bias_residual``: + C
- ``... -> add(bias) -> gelu``               -> ``planctl_cublaslt_gemm_bias_gelu`` (only when the plan
  asks for ``gelu: tanh-approximation``: cuBLASLt's GELU epilogue is the tanh form,
  0.5x(1 + tanh(sqrt(2/pi)(x + 0.044715x^3))), Hendrycks & Gimpel 2016; within 5e-4 of the erf form)
- a bare matmul                             -> ``planctl_cublaslt_gemm``

The extension's C++ source is attached to the module as a C source module (``external_mods``), so
``export_library`` compiles it into the artifact with the host's C++ compiler: the artifact stays one
self-contained library that opens libcublasLt itself (no CUDA library is linked).

Each kind of site (M, N, K, dtypes, epilogue) is routed **by measurement** on the device when one is
present: the library call and TVM's own kernel for the same fused subgraph (dlight schedule) are
timed side by side and the faster one is kept. Every decision, with both times, lands in the apply
record (``builds[].kernel_routes``) and the report. Without a device the library route is taken and
the decision says it was not measured.

Numerics: fp32 accumulation throughout (CUBLAS_COMPUTE_32F, no TF32); the fused epilogue rounds once
where the graph rounded after the matmul and again after the bias, so results move only within
rounding of the output dtype (the parity and quality gates judge the build as usual).
"""
from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from planctl.lowering import relax_match as rm

EXTENSION_SOURCE = Path(__file__).with_name("cuda_ext") / "cublaslt_gemm.cc"
WORKSPACE_BYTES = 4 << 20  # cuBLASLt workspace per call (split-K); Relax plans and reuses it
ROUTES_ATTR = "planctl.kernel_routes"
FUNCTIONS = {(False, False, False): "planctl_cublaslt_gemm", (True, False, False): "planctl_cublaslt_gemm_bias",
             (False, True, False): "planctl_cublaslt_gemm_residual",
             (True, True, False): "planctl_cublaslt_gemm_bias_residual",
             (True, False, True): "planctl_cublaslt_gemm_bias_gelu"}


@dataclass(frozen=True)
class GemmSite:
    """One matched chain; ``var`` is the binding it ends at, the rest its operands and signature."""

    var: object
    a: object
    weight: object  # numpy [K, N] in the A dtype
    bias: object  # numpy [N] in the output dtype, or None
    residual: object  # Relax expr with the output's shape and dtype, or None
    m: int
    n: int
    k: int
    ab_dtype: str
    out_dtype: str
    out_shape: tuple
    gelu: bool = False  # GELU (tanh form) after the bias

    @property
    def epilogue(self) -> str:
        parts = ["bias"] * (self.bias is not None) + ["residual"] * (self.residual is not None)
        return "+".join(parts + ["gelu(tanh)"] * self.gelu) or "none"

    @property
    def signature(self) -> str:
        """What decides the route: problem size, dtypes and epilogue."""
        return f"gemm M={self.m} N={self.n} K={self.k} {self.ab_dtype}->{self.out_dtype} epilogue={self.epilogue}"


@dataclass(frozen=True)
class RouteDecision:
    """How one kind of site runs; ``library_ms``/``tvm_ms`` are medians on the device (None when not
    measured). Serialized into the apply record's ``kernel_routes`` (planctl.report.record.KernelRoute)."""

    kind: str  # "gemm" | "attention" | "layer_norm"
    signature: str
    sites: int
    route: str  # "cublaslt" | "tvm" | "tir-fused-attention" | "tir-fused-layer-norm" | "tvm (fallback)"
    library_ms: float | None
    tvm_ms: float | None
    reason: str

    def to_dict(self) -> dict:
        return asdict(self)


# ------------------------------------------------------------------ matching
def find_gemm_sites(func, gelu_tanh: bool = False) -> list[GemmSite]:
    """Dense-matmul chains of ``func`` (Relax ``main``) that the cuBLASLt route can run;
    ``gelu_tanh``: also take a GELU after the bias into the epilogue (tanh form)."""
    b = rm.collect(func)
    sites, taken = [], set()
    for var in b.order:
        mm = rm.call_of(b, var, "relax.matmul")
        if mm is None or var in taken:
            continue
        site = _grow_chain(b, var, mm, gelu_tanh)
        if site is not None:
            sites.append(site)
            taken.add(site.var)
    return sites


def _grow_chain(b: rm.Bindings, var, mm, gelu_tanh: bool = False) -> GemmSite | None:
    a, weight = mm.args[0], rm.constant_array(b, mm.args[1])
    a_type = rm.tensor_type(a)
    if weight is None or weight.ndim != 2 or a_type is None or len(a_type[0]) < 2:
        return None
    ab = a_type[1]
    if ab not in ("float16", "float32") or str(weight.dtype) != ab or a_type[0][-1] != weight.shape[0]:
        return None
    end, bias, residual = var, None, None
    nxt = _follow_cast(b, end)
    add = _sole_call(b, nxt, "relax.add")
    if add is not None:
        other = add.args[1] if add.args[0].same_as(nxt) else add.args[0]
        vec = rm.constant_array(b, other)
        if vec is not None and vec.shape in ((weight.shape[1],),):
            end, bias = b.sole_user(nxt), vec
    if bias is not None or end is var:
        nxt = _follow_cast(b, end)
        add = _sole_call(b, nxt, "relax.add")
        if add is not None:
            other = add.args[1] if add.args[0].same_as(nxt) else add.args[0]
            candidate = b.sole_user(nxt)
            if rm.constant_array(b, other) is None and rm.tensor_type(other) == rm.tensor_type(candidate):
                end, residual = candidate, other
    gelu = False
    if gelu_tanh and bias is not None and residual is None:
        user = b.sole_user(end)
        if user is not None and rm.call_of(b, user, "relax.nn.gelu") is not None:
            end, gelu = user, True
    out_shape, out = rm.tensor_type(end)
    if out not in ("float16", "float32") or (ab == "float32" and out != "float32"):
        return None
    m = _prod(a_type[0][:-1])
    return GemmSite(var=end, a=a, weight=weight, bias=None if bias is None else bias.astype(out),
                    residual=residual, m=m, n=int(weight.shape[1]), k=int(weight.shape[0]), ab_dtype=ab,
                    out_dtype=out, out_shape=out_shape, gelu=gelu)


def _prod(dims) -> int:
    out = 1
    for d in dims:
        out *= d
    return out


def _follow_cast(b: rm.Bindings, var):
    """``var``'s sole user when that is an ``astype`` (the accumulator cast), else ``var``."""
    user = b.sole_user(var)
    return user if user is not None and rm.call_of(b, user, "relax.astype") is not None else var


def _sole_call(b: rm.Bindings, var, op_name: str):
    user = b.sole_user(var)
    return None if user is None else rm.call_of(b, user, op_name)


# ------------------------------------------------------------------ rewriting
def library_call(site: GemmSite):
    """The Relax expression that runs ``site`` through the extension (output 0 of the DPS call)."""
    from tvm import relax

    args = [site.a, relax.const(site.weight)]
    if site.bias is not None:
        args.append(relax.const(site.bias))
    if site.residual is not None:
        args.append(site.residual)
    fn = FUNCTIONS[(site.bias is not None, site.residual is not None, site.gelu)]
    outs = [relax.TensorType(site.out_shape, site.out_dtype), relax.TensorType((WORKSPACE_BYTES,), "uint8")]
    call = relax.call_dps_packed(relax.ExternFunc(fn), relax.Tuple(args), outs)
    return relax.TupleGetItem(call, 0)


def extension_module(cublaslt_path: str | None = None):
    """The extension as a TVM C source module, with the libcublasLt path seen at build time."""
    import tvm

    path = cublaslt_path if cublaslt_path is not None else (find_cublaslt() or "")
    code = f'#define PLANCTL_CUBLASLT_BUILD_PATH {json.dumps(path)}\n' + EXTENSION_SOURCE.read_text()
    names = [*FUNCTIONS.values(), "planctl_cublaslt_library_path"]
    return tvm.get_global_func("runtime.CSourceModuleCreate")(code, "cc", names, [])


def attach_extension(mod):
    """``mod`` with the extension in its ``external_mods`` (once)."""
    mods = list(mod.attrs["external_mods"]) if mod.attrs is not None and "external_mods" in mod.attrs else []
    if any("planctl_cublaslt_gemm" in m.inspect_source() for m in mods if m.kind == "c"):
        return mod
    return mod.with_attr("external_mods", [*mods, extension_module()])


def uses_extension(mod) -> bool:
    return mod.attrs is not None and "external_mods" in mod.attrs and any(
        m.kind == "c" for m in mod.attrs["external_mods"])


def find_cublaslt() -> str | None:
    """Path of libcublasLt on this machine: ``PLANCTL_CUBLASLT``, the CUDA toolkit, or the NVIDIA
    Python wheels (``nvidia/cu13/lib``, ``nvidia/cublas/lib``, as torch installs them)."""
    env = os.environ.get("PLANCTL_CUBLASLT")
    if env:
        return env
    roots = [os.environ.get("CUDA_HOME", ""), "/usr/local/cuda"]
    dirs = [Path(r) / sub for r in roots if r for sub in ("lib64", "lib")]
    dirs += [Path(p) / "nvidia" / sub / "lib" for p in sys.path if p for sub in ("cu13", "cu12", "cublas")]
    for d in dirs:
        for name in ("libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so"):
            if (d / name).exists():
                return str(d / name)
    return None


def rewrite(mod, decisions: dict[str, RouteDecision], sites: list[GemmSite]):
    """Replace each site whose signature was routed to the library."""
    chosen = {s.var: library_call(s) for s in sites if decisions[s.signature].route == "cublaslt"}
    if not chosen:
        return mod
    return attach_extension(rm.replace_bindings(mod, chosen))


# ------------------------------------------------------------------ deciding
def decide(sites: list[GemmSite], timings: dict | None) -> dict[str, RouteDecision]:
    """One decision per signature. ``timings``: signature -> (library_ms, tvm_ms) medians, or None
    when nothing could be measured (no device): the library route is then taken, and said so."""
    out = {}
    for sig in dict.fromkeys(s.signature for s in sites):
        count = sum(1 for s in sites if s.signature == sig)
        if timings is None or sig not in timings:
            out[sig] = RouteDecision("gemm", sig, count, "cublaslt", None, None,
                                     "not measured (no CUDA device in this process): library route by default")
            continue
        lib, own = timings[sig]
        if lib is None:
            out[sig] = RouteDecision("gemm", sig, count, "tvm", None, own, "the library call failed on the device")
        elif own is None or lib < own:
            out[sig] = RouteDecision("gemm", sig, count, "cublaslt", lib, own, "measured faster")
        else:
            out[sig] = RouteDecision("gemm", sig, count, "tvm", lib, own, "TVM's kernel measured faster")
    return out


def measure(sites: list[GemmSite], target, repeat: int = 20) -> dict | None:
    """Time each signature's library call and TVM's kernel for the same chain on CUDA device 0.

    Returns signature -> (library_ms, tvm_ms) (None for a side that failed to build or run), or None
    when no CUDA device is visible. Both sides run in one probe module built like the candidate.
    """
    import numpy as np
    import tvm
    from tvm import relax

    if not sites or not tvm.cuda(0).exist:
        return None
    bb = relax.BlockBuilder()
    examples = {}
    for i, site in enumerate({s.signature: s for s in sites}.values()):
        examples[site.signature] = i
        for side in ("lib", "tvm"):
            _probe_function(bb, f"{side}_{i}", site, library=side == "lib")
    probe = bb.get()
    try:
        executable = build_probe(probe, target)
    except Exception:  # noqa: BLE001 - a failed probe build leaves every site to TVM, recorded below
        return {sig: (None, None) for sig in examples}
    dev = tvm.cuda(0)
    vm = relax.VirtualMachine(executable, dev)
    rng = np.random.default_rng(0)
    out = {}
    for sig, i in examples.items():
        site = next(s for s in sites if s.signature == sig)
        args = [tvm.runtime.tensor(rng.standard_normal(rm.tensor_type(site.a)[0]).astype(site.ab_dtype), dev)]
        if site.residual is not None:
            args.append(tvm.runtime.tensor(rng.standard_normal(site.out_shape).astype(site.out_dtype), dev))
        out[sig] = tuple(_median_ms(vm, f"{side}_{i}", dev, args, repeat) for side in ("lib", "tvm"))
    return out


def _median_ms(vm, name: str, dev, args, repeat: int) -> float | None:
    try:
        timer = vm.time_evaluator(name, dev, number=10, repeat=repeat)
        return float(timer(*args).median) * 1e3
    except Exception:  # noqa: BLE001 - a side that cannot run is reported as not measured
        return None


def _probe_function(bb, name: str, site: GemmSite, library: bool) -> None:
    """A function computing ``site``'s chain alone, through the library or through TVM ops."""
    from tvm import relax

    a = relax.Var("a", relax.TensorType(rm.tensor_type(site.a)[0], site.ab_dtype))
    params = [a]
    residual = None
    if site.residual is not None:
        residual = relax.Var("c", relax.TensorType(site.out_shape, site.out_dtype))
        params.append(residual)
    with bb.function(name, params):
        with bb.dataflow():
            if library:
                out = bb.emit(library_call(replace(site, a=a, residual=residual)))
            else:
                acc = "float32" if site.out_dtype == "float32" or site.ab_dtype == "float16" else site.ab_dtype
                out = bb.emit(relax.op.matmul(a, relax.const(site.weight), out_dtype=acc))
                if site.out_dtype != acc:
                    out = bb.emit(relax.op.astype(out, site.out_dtype))
                if site.bias is not None:
                    out = bb.emit(relax.op.add(out, relax.const(site.bias)))
                if residual is not None:
                    out = bb.emit(relax.op.add(out, residual))
                if site.gelu:
                    out = bb.emit(relax.op.nn.gelu(out))
            out = bb.emit_output(out)
        bb.emit_func_output(out)


def build_probe(mod, target):
    """Legalize, fuse, dlight-schedule and build ``mod`` like a candidate (extension linked in)."""
    import tvm
    from tvm import relax

    from planctl.lowering.backend import backend_pipeline, compile_scheduled

    if any(True for _ in _extern_calls(mod)):
        mod = attach_extension(mod)
    steps = [*backend_pipeline(target).library_dispatch_passes(target), relax.transform.LegalizeOps(),
             relax.transform.AnnotateTIROpPattern(), relax.transform.FoldConstant(), relax.transform.FuseOps(),
             relax.transform.FuseTIR()]
    with target, tvm.transform.PassContext(opt_level=3):
        mod = tvm.transform.Sequential(steps)(mod)
    executable = compile_scheduled(mod, target)
    return linked_executable(executable) if uses_extension(mod) else executable


def _extern_calls(mod):
    """The ``call_dps_packed`` bindings of ``mod`` that call the extension."""
    from tvm import ir, relax

    dps = ir.Op.get("relax.call_dps_packed")
    for func in mod.functions.values():
        if isinstance(func, relax.Function):
            for binding in (b for block in func.body.blocks for b in block.bindings):
                value = binding.value
                if (isinstance(value, relax.Call) and value.op.same_as(dps) and isinstance(value.args[0], relax.ExternFunc)
                        and str(value.args[0].global_symbol).startswith("planctl_cublaslt")):
                    yield binding


# ------------------------------------------------------------------ the pass
def library_dispatch_pass(target, measure_on_device: bool = True, gelu_tanh: bool = False):
    """Module pass of the ``library-dispatch`` technique: match, measure, rewrite ``main``, and keep
    the decisions as JSON in the module attribute ``planctl.kernel_routes`` (appended)."""
    import tvm

    @tvm.transform.module_pass(opt_level=0, name="planctl.LibraryDispatch")
    def run(mod, _ctx):
        sites = find_gemm_sites(mod["main"], gelu_tanh)
        timings = measure(sites, target) if measure_on_device else None
        decisions = decide(sites, timings)
        mod = rewrite(mod, decisions, sites)
        return add_routes(mod, [d.to_dict() for d in decisions.values()])
    return run


def add_routes(mod, routes: list[dict]):
    """Append route decisions to the module's ``planctl.kernel_routes`` attribute."""
    return mod.with_attr(ROUTES_ATTR, json.dumps(read_routes(mod) + routes))


def read_routes(mod) -> list[dict]:
    if mod.attrs is None or ROUTES_ATTR not in mod.attrs:
        return []
    return json.loads(str(mod.attrs[ROUTES_ATTR]))


# ------------------------------------------------------------------ in-process use
def linked_executable(executable, workdir: Path | None = None, needs_cuda: bool = True):
    """An executable whose C source imports are compiled: exported to a library and loaded back.

    A C source module has no code until ``export_library`` compiles it, so the in-memory executable
    of a module with library routes cannot run; this one can, and its ``export_library`` copies the
    library already built (so the artifact is exactly what was verified). A CUDA build
    (``needs_cuda``) without a CUDA device is returned as it is: nothing could run it here, and it
    still exports.
    """
    import atexit
    import shutil
    import tempfile

    import tvm
    from tvm import relax

    if needs_cuda and not tvm.cuda(0).exist:
        return executable  # nothing here could load the CUDA code; export_library still compiles it
    from planctl.lowering.backend import cuda_source

    folder = Path(workdir or tempfile.mkdtemp(prefix="planctl-linked-"))
    if workdir is None:
        atexit.register(shutil.rmtree, folder, True)
    path = folder / "linked.so"
    source = cuda_source(executable)  # the loaded library keeps only the binary
    executable.export_library(str(path))

    class LinkedExecutable(relax.VMExecutable):
        """A loaded VM library that exports by copying the file it was loaded from."""

        def export_library(self, file_name, **_kwargs):  # noqa: D401 - same signature as TVM's
            shutil.copyfile(path, file_name)

    linked = LinkedExecutable(tvm.runtime.load_module(str(path)))
    linked.cuda_source = source
    return linked
