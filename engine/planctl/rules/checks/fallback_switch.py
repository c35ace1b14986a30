"""PLN205 fallback-switch."""
from __future__ import annotations

import re

from planctl.documents.diagnostics import display_path
from planctl.rules.context import Violation
from planctl.rules.registry import rule

ENV_VAR = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def by_switch(plans) -> dict[str, list]:
    index: dict[str, list] = {}
    for loaded in plans:
        index.setdefault(loaded.model.spec.fallback.switch, []).append(loaded)
    return index


# variables a shell, login or container sets in nearly every process (POSIX's and the usual
# login environment): as a switch, the fast path would be off everywhere
ALWAYS_SET = frozenset({"HOME", "PATH", "USER", "LOGNAME", "SHELL", "PWD", "OLDPWD", "LANG", "LC_ALL", "TERM",
                        "TMPDIR", "HOSTNAME", "SHLVL", "MAIL", "TZ", "PYTHONPATH", "LD_LIBRARY_PATH", "_"})


@rule("PLN205", "fallback-switch", "error")
def check(ctx):
    """The fallback switch is a valid environment variable name, unique across all plans.

    What it checks
        ``spec.fallback.switch`` matches ``[A-Za-z_][A-Za-z0-9_]*`` and no other plan of the
        repository (``plans/*.yaml`` and ``plans/*.yml`` under the root) declares the same switch;
        nor is it a variable set in nearly every process (``HOME``, ``PATH``, ``USER``...).

    Why
        The switch is how an operator turns one fast path off in production without a deploy. A
        switch shared by two plans disables both; a name the shell cannot export disables none;
        ``HOME`` disables the plan in every process.

    Example
        Two plans with ``fallback: {switch: PLANCTL_DISABLE_EMBED}``.

    Fix
        Name the switch after the plan: ``PLANCTL_DISABLE_<PLAN_NAME>``.
    """
    switch = ctx.spec.fallback.switch
    if not ENV_VAR.match(switch):
        yield Violation("/spec/fallback/switch", f"fallback switch {switch!r} is not a valid "
                        "environment variable name", help="use letters, digits and underscores")
        return
    if switch.upper() in ALWAYS_SET:
        yield Violation("/spec/fallback/switch", f"fallback switch {switch} is set in nearly every process: the "
                        "runtime would serve the fallback build everywhere", help=_rename_hint(ctx.plan.metadata.name,
                                                                                              switch))
        return
    sharing = ctx.repo.index("switches", by_switch).get(switch, [])
    others = [p for p in sharing if p is not ctx.loaded]
    if others:
        names = ", ".join(display_path(p.path) for p in others)
        yield Violation("/spec/fallback/switch", f"fallback switch {switch} is also declared by "
                        f"{names}", help=_rename_hint(ctx.plan.metadata.name, switch))


def _rename_hint(plan_name: str, switch: str) -> str:
    """A switch named after the plan; when that is the one taken (a copied plan keeps its
    ``metadata.name``), the plan needs a name of its own first."""
    suggested = f"PLANCTL_DISABLE_{plan_name.upper().replace('-', '_')}"
    if suggested != switch:
        return f"name it after this plan, e.g. {suggested}"
    return (f"this plan shares metadata.name {plan_name!r} with the plan that declares it: give this plan a "
            f"name of its own and name the switch after it (PLANCTL_DISABLE_<NAME>)")
