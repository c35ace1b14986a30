"""Library GEMM routes on CPU targets (plan technique ``library-dispatch``, library ``openblas``).

A float32 dense matmul against a constant weight, with a bias add and a residual add after it
(the chains planctl.lowering.cuda_library matches), becomes one call of planctl's OpenBLAS extension
(``cpu_ext/blas_gemm.cc``) through ``R.call_dps_packed``:

- ``add(bias)``                  -> ``planctl_blas_gemm_bias``: D = A.W + bias
- ``... -> add(residual)``       -> ``planctl_blas_gemm_bias_residual``: + C
- a bare matmul                  -> ``planctl_blas_gemm``

A GELU after the bias stays TVM's (the erf form, vectorized by fast-math where the plan asks).

What it is for: a build that needs no matmul tuning. Measured side by side on a 2-core Zen 3
(bench/README.md, "The BLAS route"), MiniLM's matmuls ran at 125-148 GFLOP/s in OpenBLAS, but the
build with the committed MetaSchedule records was 15-22% faster per bucket than the routed one:
where records were tuned for the host, keep them; where none are (a new target, no tuning budget),
the route is one library call per matmul instead of TVM's untuned loops. The extension splits each
GEMM by columns over TVM's own thread pool, one single-threaded sgemm per worker, so no second pool
competes with TVM's for the cores.

The extension's C++ source is attached to the module as a C source module (``external_mods``), so
``export_library`` compiles it into the artifact with the host's C++ compiler; the artifact opens
OpenBLAS (the scipy-openblas32 wheel, a dependency of ``planctl[tvm]``) with dlopen at its first
GEMM. Every site is routed: on a CPU the same bucket's performance gate then times the whole build
against TVM's, so there is no per-site measurement (the record's kernel routes say so).

Numerics: fp32 throughout, with OpenBLAS's own summation order (the parity and quality gates
judge the build as usual).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from planctl.lowering import relax_match as rm
from planctl.lowering.cuda_library import RouteDecision, add_routes, find_gemm_sites

__all__ = ["find_sites", "library_call", "find_openblas", "extension_module", "attach_extension", "decide",
           "library_dispatch_pass"]

EXTENSION_SOURCE = Path(__file__).with_name("cpu_ext") / "blas_gemm.cc"
FUNCTIONS = {(False, False): "planctl_blas_gemm", (True, False): "planctl_blas_gemm_bias",
             (False, True): "planctl_blas_gemm_residual", (True, True): "planctl_blas_gemm_bias_residual"}
LIBRARY_PATH_FUNCTION = "planctl_blas_library_path"


def find_sites(func) -> list:
    """The float32 matmul chains of ``func`` (Relax ``main``) the BLAS route runs (GemmSite list)."""
    return [s for s in find_gemm_sites(func) if s.ab_dtype == s.out_dtype == "float32"]


def library_call(site):
    """The Relax expression that runs ``site`` through the extension."""
    from tvm import relax

    args = [site.a, relax.const(site.weight)]
    if site.bias is not None:
        args.append(relax.const(site.bias))
    if site.residual is not None:
        args.append(site.residual)
    fn = FUNCTIONS[(site.bias is not None, site.residual is not None)]
    return relax.call_dps_packed(relax.ExternFunc(fn), relax.Tuple(args),
                                 relax.TensorType(site.out_shape, site.out_dtype))


def find_openblas() -> str | None:
    """Path of the OpenBLAS the extension opens: ``PLANCTL_OPENBLAS``, else the scipy-openblas32
    wheel's library; None when neither is there."""
    env = os.environ.get("PLANCTL_OPENBLAS")
    if env:
        return env
    try:
        import scipy_openblas32
    except ImportError:
        return None
    path = Path(scipy_openblas32.get_lib_dir()) / f"lib{scipy_openblas32.get_library()}.so"
    return str(path) if path.exists() else None


def extension_module(openblas_path: str | None = None):
    """The extension as a TVM C source module, with the OpenBLAS path seen at build time."""
    import tvm

    path = openblas_path if openblas_path is not None else (find_openblas() or "")
    code = f"#define PLANCTL_OPENBLAS_BUILD_PATH {json.dumps(path)}\n" + EXTENSION_SOURCE.read_text()
    return tvm.get_global_func("runtime.CSourceModuleCreate")(code, "cc", [*FUNCTIONS.values(), LIBRARY_PATH_FUNCTION],
                                                              [])


def attach_extension(mod):
    """``mod`` with the extension in its ``external_mods`` (once)."""
    mods = list(mod.attrs["external_mods"]) if mod.attrs is not None and "external_mods" in mod.attrs else []
    if any(LIBRARY_PATH_FUNCTION in m.inspect_source() for m in mods if m.kind == "c"):
        return mod
    return mod.with_attr("external_mods", [*mods, extension_module()])


def decide(sites: list) -> dict[str, RouteDecision]:
    """One decision per signature: every site takes the route (see the module docstring)."""
    return {sig: RouteDecision("gemm", sig, sum(1 for s in sites if s.signature == sig), "openblas", None, None,
                               "CPU: every float32 matmul with a constant weight; not timed per site (the "
                               "bucket's performance gate times the whole build against TVM's)")
            for sig in dict.fromkeys(s.signature for s in sites)}


def library_dispatch_pass():
    """Module pass of ``library-dispatch`` on a CPU target: match, rewrite ``main``, and keep the
    decisions in the module attribute ``planctl.kernel_routes``. Raises LoweringError when OpenBLAS
    cannot be found (nothing would run the calls)."""
    import tvm

    from planctl.errors import LoweringError

    # checked here, not in the pass: TVM turns an exception raised inside a pass into a RuntimeError
    if find_openblas() is None:
        raise LoweringError("technique 'library-dispatch' on a CPU target needs OpenBLAS, and the "
                            "scipy-openblas32 package is not installed",
                            hint="pip install 'planctl[tvm]' (it depends on scipy-openblas32), or set "
                                 "PLANCTL_OPENBLAS to a libscipy_openblas.so")

    @tvm.transform.module_pass(opt_level=0, name="planctl.CpuLibraryDispatch")
    def run(mod, _ctx):
        sites = find_sites(mod["main"])
        if not sites:
            return add_routes(mod, [])
        decisions = decide(sites)
        mod = attach_extension(rm.replace_bindings(mod, {s.var: library_call(s) for s in sites}))
        return add_routes(mod, [d.to_dict() for d in decisions.values()])
    return run
