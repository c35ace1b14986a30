"""PLN212 prefix-reuse-scope."""
from __future__ import annotations

from planctl.rules.context import Violation
from planctl.rules.registry import rule


@rule("PLN212", "prefix-reuse-scope", "error")
def check(ctx):
    """Prefix (KV) reuse declares a tenant scope and a retention policy.

    What it checks
        A ``prefix-caching`` technique sets ``tenant_scope`` (``per-tenant``, ``per-user`` or
        ``global``) and ``retention``.

    Why
        A shared prefix cache can leak one tenant's prompt into another's timing or output, and a
        cache without retention grows until it thrashes or holds data past its policy.

    Example
        ``technique: prefix-caching`` with neither field.

    Fix
        Add ``tenant_scope: per-tenant`` (``global`` only for public system prompts) and
        ``retention: 15m`` or a named policy.
    """
    for pointer, technique, _ in ctx.techniques():
        if technique.technique != "prefix-caching":
            continue
        if technique.tenant_scope is None:
            yield Violation(pointer, "prefix caching without a tenant scope", key="scope",
                            help="add tenant_scope: per-tenant | per-user | global")
        if not technique.retention:
            yield Violation(pointer, "prefix caching without a retention policy", key="retention",
                            help="add retention: e.g. 15m, or a policy name")
