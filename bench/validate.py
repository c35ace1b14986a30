"""Benchmark: `planctl validate` against `check-jsonschema` on the same 200 plan files and schema.

Each tool runs once per repetition as ONE process over all files (as pre-commit would call it), so
start-up counts. Prints one JSON object to stdout: wall seconds per repetition for each tool, their
medians and best, and ratio = planctl / check-jsonschema (below 1.0: planctl is faster).

    /work/venv/bin/python bench/validate.py [--files 200] [--repeat 5]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOURCES = ["minilm-embed.yaml", "plan-full.yaml", "plan-serving.yaml", "plan-anchors.yml"]


def make_corpus(folder: Path, count: int) -> list[Path]:
    """``count`` valid plans: the valid test plans, each renamed (``metadata.name``) per copy."""
    texts = [(REPO / "tests" / "documents" / "valid" / name).read_text() for name in SOURCES]
    names = ["minilm-embed", "bert-int8", "llm-serving", "anchors"]
    paths = []
    for i in range(count):
        k = i % len(texts)
        path = folder / f"plan-{i:03d}.yaml"
        path.write_text(texts[k].replace(f"name: {names[k]}", f"name: {names[k]}-{i}", 1))
        paths.append(path)
    return paths


def timed(cmd: list[str]) -> tuple[float, int, str]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    return time.perf_counter() - start, proc.returncode, (proc.stdout + proc.stderr)[-400:]


def tool(name: str) -> str:
    """The tool beside this interpreter (the venv), else on PATH."""
    here = Path(sys.executable).parent / name
    return str(here) if here.exists() else (shutil.which(name) or name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    schema = str(REPO / "schemas" / "plan.schema.json")
    with tempfile.TemporaryDirectory() as tmp:
        files = [str(p) for p in make_corpus(Path(tmp), args.files)]
        commands = {
            "planctl": [tool("planctl"), "validate", *files],
            "check-jsonschema": [tool("check-jsonschema"), "--schemafile", schema, *files],
        }
        runs = {name: [] for name in commands}
        codes = {}
        for _ in range(args.repeat):  # interleaved so drift affects both tools alike
            for name, cmd in commands.items():
                seconds, code, tail = timed(cmd)
                runs[name].append(round(seconds, 4))
                codes[name] = {"exit": code, "output_tail": tail if code else ""}
    median = {name: statistics.median(times) for name, times in runs.items()}
    result = {
        "benchmark": "validate",
        "files": args.files,
        "repeat": args.repeat,
        "seconds": runs,
        "median_s": median,
        "best_s": {name: min(times) for name, times in runs.items()},
        "ratio": round(median["planctl"] / median["check-jsonschema"], 3),
        "exit_codes": codes,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "platform": platform.platform()},
    }
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
