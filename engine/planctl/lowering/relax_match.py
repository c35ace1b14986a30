"""Small helpers to find op chains in a Relax function's dataflow bindings and replace them.

The kernel-route passes (``planctl.lowering.cuda_library``, ``planctl.lowering.cuda_attention``)
match producer-consumer chains such as ``matmul -> astype -> add(bias)`` that span several
bindings, and replace the binding at the end of a chain with one call; the chain's inner bindings
are left dead for ``DeadCodeElimination``. A chain is only taken when each inner value has one use,
so nothing else still reads what the replacement no longer computes.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Bindings:
    """``values``: var -> bound expression; ``users``: var -> the vars whose values read it;
    ``order``: the binding vars in program order (``main``'s dataflow blocks)."""

    values: dict = field(default_factory=dict)
    users: dict = field(default_factory=dict)
    order: list = field(default_factory=list)

    def value(self, expr):
        """The expression bound to ``expr`` when it is a bound var, else ``expr`` itself."""
        return self.values.get(expr, expr)

    def sole_user(self, var):
        """The one binding var that reads ``var``, or None when there are zero or several."""
        found = self.users.get(var, [])
        return found[0] if len(found) == 1 else None


def collect(func) -> Bindings:
    """Index the bindings of ``func``'s dataflow blocks (Relax ``main``)."""
    from tvm import relax

    found = Bindings()
    for block in func.body.blocks:
        for binding in block.bindings:
            if not isinstance(binding, relax.VarBinding):
                continue
            found.values[binding.var] = binding.value
            found.order.append(binding.var)
            for used in relax.analysis.free_vars(binding.value):
                found.users.setdefault(used, []).append(binding.var)
    # the function's result reads its vars too: they are never single-use inner values
    for used in relax.analysis.free_vars(func.body.body):
        found.users.setdefault(used, []).append(None)
    return found


def call_of(bindings: Bindings, expr, op_name: str):
    """``expr`` (or what it is bound to) when it is a call of the Relax op ``op_name``, else None."""
    from tvm import ir, relax

    value = bindings.value(expr)
    if isinstance(value, relax.Call) and isinstance(value.op, ir.Op) and value.op.name == op_name:
        return value
    return None


def constant_array(bindings: Bindings, expr):
    """The numpy value of a constant, or of ``astype(constant)`` converted to that dtype; else None."""
    from tvm.ir.expr import Constant  # relax constants are ir.GenericConst, a Constant

    value = bindings.value(expr)
    if isinstance(value, Constant):
        return value.value.numpy()
    cast = call_of(bindings, expr, "relax.astype")
    if cast is not None and isinstance(bindings.value(cast.args[0]), Constant):
        return bindings.value(cast.args[0]).value.numpy().astype(str(cast.attrs.dtype))
    return None


def tensor_type(expr) -> tuple[tuple[int, ...], str] | None:
    """(static shape, dtype) of a Relax expression, or None when the shape is not static."""
    ty = expr.ty
    shape = getattr(ty, "shape", None)
    if shape is None or not hasattr(shape, "values"):
        return None
    try:
        dims = tuple(int(d) for d in shape.values)
    except TypeError:
        return None
    return dims, str(ty.dtype)


def replace_bindings(mod, replacements: dict, preludes: dict | None = None):
    """Return ``mod`` with ``main``'s bindings in ``replacements`` (var -> new value over the
    original vars) rebound, then dead bindings removed (relax DeadCodeElimination).

    ``preludes``: var -> [(new var, value)] bound just before that var's replacement, so that one
    call with several outputs can feed the replacements of several later bindings.
    """
    import tvm
    from tvm import relax

    if not replacements:
        return mod

    @relax.expr_functor.mutator
    class _Rebind(relax.PyExprMutator):
        def visit_var_binding_(self, binding):
            if binding.var not in replacements:
                super().visit_var_binding_(binding)
                return
            for extra, extra_value in (preludes or {}).get(binding.var, []):
                self.set_var_remap(extra, self.builder_.emit(self.visit_expr(extra_value), extra.name))
            value = self.visit_expr(replacements[binding.var])
            if isinstance(binding.var, relax.DataflowVar):
                new = self.builder_.emit(value, binding.var.name)
            else:
                new = self.builder_.emit_output(value, binding.var.name)
            self.set_var_remap(binding.var, new)

    gv = mod.get_global_var("main")
    rewritten = _Rebind(mod).visit_expr(mod[gv])
    mod = tvm.IRModule({**{g: f for g, f in mod.functions.items() if g != gv}, gv: rewritten}, attrs=mod.attrs)
    return relax.transform.DeadCodeElimination(["main"])(mod)


def rewrite_functions(mod, mutator):
    """``mod`` with every Relax function replaced by ``mutator`` (a PyExprMutator built on ``mod``)'s
    rewrite of it: the loop every planctl module pass built on an expression mutator runs."""
    from tvm import relax

    for gv, func in mod.functions_items():
        if isinstance(func, relax.Function):
            mutator.builder_.update_func(gv, mutator.visit_expr(func))
    return mutator.builder_.get()
