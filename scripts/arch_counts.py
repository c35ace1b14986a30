"""Count what issue 14 asks about the shape of engine/planctl: module sizes, import cycles and
imports that run against the flow.

    python scripts/arch_counts.py [ENGINE_DIR]    # default: engine/planctl beside this script

Every ``import planctl...`` / ``from planctl... import ...`` in a module counts, also the lazy ones
inside functions (they close a cycle just as well at run time). An import of a package's name that
is a submodule (``from planctl.tuning import records``) is an edge to that submodule.

Cycles: strongly connected components of more than one module (Tarjan). Backward imports: an
import from a stage package into one that runs after it, in DESIGN.md's flow order
(documents, rules, lowering, tuning, verify, measure, report, apply; ``cli`` and ``runtime`` sit on
top, the top-level modules such as ``errors.py`` at the bottom).
"""
from __future__ import annotations

import ast
import statistics
import sys
from pathlib import Path

FLOW = ["documents", "rules", "lowering", "tuning", "verify", "measure", "report", "apply", "runtime", "cli"]


def modules(root: Path) -> dict[str, Path]:
    """``{dotted name: file}`` of every module under ``root`` (a package directory)."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """Modules of ``known`` that ``name`` imports anywhere in its text."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name in known}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module not in known:
                continue
            subs = {f"{node.module}.{a.name}" for a in node.names} & set(known)
            found |= subs
            if len(subs) < len(node.names):   # some names are attributes of the module itself
                found.add(node.module)
    found.discard(name)
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index, low, on, stack, out, counter = {}, {}, set(), [], [], [0]

    def visit(start):
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter[0]
        counter[0] += 1
        stack.append(start)
        on.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter[0]
                    counter[0] += 1
                    stack.append(child)
                    on.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    break
                if child in on:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        item = stack.pop()
                        on.discard(item)
                        component.append(item)
                        if item == node:
                            break
                    if len(component) > 1:
                        out.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return out


def stage(name: str) -> str | None:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in FLOW else None


def backward(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    out = []
    for src, targets in graph.items():
        for dst in targets:
            a, b = stage(src), stage(dst)
            if a and b and a != b and FLOW.index(b) > FLOW.index(a):
                out.append((src, dst))
    return sorted(out)


def main(argv: list[str]) -> int:
    root = Path(argv[0]) if argv else Path(__file__).resolve().parents[1] / "engine" / "planctl"
    known = modules(root)
    graph = {name: imports(name, path, known) for name, path in known.items()}
    sizes = {name: len(path.read_text(encoding="utf-8").splitlines()) for name, path in known.items()}
    pipeline = sizes.get("planctl.apply.pipeline")
    print(f"modules: {len(sizes)}; median lines {statistics.median(sizes.values()):g}; "
          f"largest: {', '.join(f'{n} {s}' for n, s in sorted(sizes.items(), key=lambda x: -x[1])[:5])}")
    print(f"apply/pipeline.py: {pipeline} lines")
    found = cycles(graph)
    print(f"import cycles: {len(found)}")
    for comp in found:
        print(f"  {len(comp)} modules: {', '.join(comp)}")
    back = backward(graph)
    pairs = sorted({(stage(a), stage(b)) for a, b in back})
    print(f"backward imports (stage into a later one): {len(back)} module edges, "
          f"{len(pairs)} stage pairs: {', '.join(f'{a}->{b}' for a, b in pairs)}")
    for a, b in back:
        print(f"  {a} -> {b}")
    # issue 14 also counts tuning reaching up into documents/ and rules/ (the cache is a service
    # below the flow: it should be handed documents and limits, not load them)
    up = sorted((a, b) for a, bs in graph.items() for b in bs
                if stage(a) == "tuning" and stage(b) in ("documents", "rules"))
    print(f"tuning -> documents/rules imports: {len(up)}")
    for a, b in up:
        print(f"  {a} -> {b}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
