"""MiniLM int8 on the CPU: planctl's quantized plan against onnxruntime fp32 and onnxruntime's own
dynamic int8 (``onnxruntime.quantization.quantize_dynamic``), for speed and for quality.

Speed: batch 2 x seq 128 (random in-vocabulary ids, the second row padded after 80 tokens, as
bench/minilm_cpu.py); every contender in a fresh process per round, the order rotated each round,
onnxruntime with intra-op threads = TVM_NUM_THREADS. Quality: the 64 sentences of
examples/minilm/sentences.jsonl (the plan's quality dataset, tokenized with the model's tokenizer,
batches of 2), each contender's embeddings against onnxruntime fp32's: mean and worst cosine
similarity, and nearest-neighbour top-1 agreement (for each sentence, the most similar other
sentence is the same one as under fp32). Each contender's quality runs in its own process too.

Contenders: ``planctl_int8`` (the promoted artifact of plans/minilm-embed-int8.yaml), ``ort_fp32``
(examples/minilm/minilm-b2-s128.onnx), ``ort_int8`` (that model through ``quantize_dynamic`` with
its defaults: int8 weights per tensor, uint8 activations per tensor computed at run time, every
MatMul), and with ``--per-channel`` also ``ort_int8_per_channel``; ``planctl_fp32`` when the fp32
plan's output for the same target exists (``--fp32-out``).

Usage: TVM_NUM_THREADS=2 python bench/minilm_int8.py [--out out/minilm-embed-int8/x86-64-avx512]
       [--rounds 4] [--repeats 30] [--per-channel] [--fp32-out out/minilm-embed/x86-64-avx512]
Prints JSON: per contender p50/p90/p99/mean/stdev/IQR (ms), cosine mean/min, top-1 agreement;
``ratio_p50_vs_ort_fp32`` per contender (goal for planctl_int8: <= 0.65), the goals and the machine.
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
MODEL = REPO / "examples" / "minilm" / "minilm-b2-s128.onnx"
PLAN = REPO / "plans" / "minilm-embed-int8.yaml"
GOALS = {"cosine_mean_min": 0.999, "p50_ratio_vs_ort_fp32_max": 0.65}


def sentence_inputs() -> dict:
    """The plan's quality dataset as model inputs ([64, 128] each)."""
    from planctl.documents.load import load_plan
    from planctl.verify.quality import example_arrays, load_dataset

    spec = load_plan(PLAN).model.spec
    dataset = load_dataset(REPO, spec.envelope.quality.dataset)
    arrays, _ = example_arrays(dataset, spec, {"batch": 2})
    return {k: v for k, v in arrays.items() if k in ("input_ids", "attention_mask")}


def child(spec: dict) -> dict:
    """Time one contender, or compute its embeddings of the sentences, in this (fresh) process."""
    import numpy as np

    if spec["task"] == "time":
        from planctl.measure.benchmark import run_one

        return run_one(spec)
    arrays = dict(np.load(spec["inputs"]))
    if spec["kind"] == "onnxruntime":
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = spec["threads"]
        session = ort.InferenceSession(spec["path"], options, providers=["CPUExecutionProvider"])
        run = lambda feed: session.run(None, feed)  # noqa: E731
    else:
        from planctl.lowering.vm import vm_callable

        run = vm_callable(spec["path"], spec["input_names"])
    rows = range(0, len(arrays["input_ids"]), 2)
    out = [np.asarray(run({k: v[i:i + 2] for k, v in arrays.items()})[0]) for i in rows]
    return {"embeddings": np.concatenate(out).tolist()}


def run_child(spec: dict) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        spec_file, out_file = Path(tmp) / "spec.json", Path(tmp) / "out.json"
        spec_file.write_text(json.dumps(spec))
        subprocess.run([sys.executable, __file__, "--child", str(spec_file), str(out_file)], check=True)
        return json.loads(out_file.read_text())


def quality(embeddings, reference) -> dict:
    import numpy as np

    a, b = np.asarray(embeddings, np.float64), np.asarray(reference, np.float64)
    cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)

    def nearest(x):
        sim = x @ x.T / np.outer(np.linalg.norm(x, axis=1), np.linalg.norm(x, axis=1))
        np.fill_diagonal(sim, -np.inf)
        return sim.argmax(1)
    return {"cosine_mean": float(cos.mean()), "cosine_min": float(cos.min()),
            "top1_agreement": float((nearest(a) == nearest(b)).mean()), "sentences": len(a)}


def ort_int8(tmp: Path, per_channel: bool) -> Path:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    out = tmp / f"minilm-int8{'-per-channel' if per_channel else ''}.onnx"
    quantize_dynamic(str(MODEL), str(out), weight_type=QuantType.QInt8, per_channel=per_channel)
    return out


def main() -> None:
    from minilm_cpu import inputs_file   # the float bench's timing inputs: the same call for both

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "out" / "minilm-embed-int8" / "x86-64-avx512")
    parser.add_argument("--fp32-out", type=Path, default=None)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--per-channel", action="store_true", help="also onnxruntime int8 with per-channel weights")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        Path(args.child[1]).write_text(json.dumps(child(json.loads(Path(args.child[0]).read_text()))))
        return
    import numpy as np

    from planctl.measure.stats import LatencyStats

    manifest = json.loads((args.out / "manifest.json").read_text())
    threads = int(os.environ.setdefault("TVM_NUM_THREADS", str(os.cpu_count())))
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        np.savez(tmp / "sentences.npz", **sentence_inputs())
        common = {"input_names": manifest["input_names"], "threads": threads}
        contenders = {"planctl_int8": {**common, "kind": "tvm", "path": str(args.out / manifest["artifact"])},
                      "ort_fp32": {**common, "kind": "onnxruntime", "path": str(MODEL)},
                      "ort_int8": {**common, "kind": "onnxruntime", "path": str(ort_int8(tmp, False))}}
        if args.per_channel:
            contenders["ort_int8_per_channel"] = {**common, "kind": "onnxruntime", "path": str(ort_int8(tmp, True))}
        if args.fp32_out is not None:
            fp32 = json.loads((args.fp32_out / "manifest.json").read_text())
            contenders["planctl_fp32"] = {**common, "kind": "tvm", "path": str(args.fp32_out / fp32["artifact"])}
        embeddings = {n: run_child({**c, "task": "quality", "inputs": str(tmp / "sentences.npz")})["embeddings"]
                      for n, c in contenders.items()}
        timing = {"task": "time", "inputs": str(inputs_file(tmp)), "warmup": 5, "repeats": args.repeats}
        names, samples = list(contenders), {n: [] for n in contenders}
        for r in range(args.rounds):
            for name in names[r % len(names):] + names[:r % len(names)]:
                samples[name].extend(run_child({**contenders[name], **timing})["samples_ms"])
    stats = {n: LatencyStats.from_samples(s, interleaved=True) for n, s in samples.items()}
    summary = {n: {"p50_ms": s.p50, "p90_ms": s.p90, "p99_ms": s.p99, "mean_ms": s.mean, "stdev_ms": s.stdev,
                   "iqr_ms": float(np.subtract(*np.percentile(s.samples_ms, [75, 25]))), "n": s.n,
                   "ratio_p50_vs_ort_fp32": s.p50 / stats["ort_fp32"].p50,
                   "ratio_p99_vs_ort_fp32": s.p99 / stats["ort_fp32"].p99,
                   **quality(embeddings[n], embeddings["ort_fp32"])}
               for n, s in stats.items()}
    ours = summary["planctl_int8"]
    print(json.dumps({
        "benchmark": "minilm_int8", "artifact": manifest["artifact"], "verdict": manifest["verdict"],
        "contenders": summary,
        "ratio_p50_planctl_int8_vs_ort_int8": stats["planctl_int8"].p50 / stats["ort_int8"].p50,
        "goals": {**GOALS, "met": ours["cosine_mean"] >= GOALS["cosine_mean_min"]
                  and ours["ratio_p50_vs_ort_fp32"] <= GOALS["p50_ratio_vs_ort_fp32_max"]},
        "method": f"{args.rounds} rounds x {args.repeats} runs, fresh process per contender per round, rotated "
                  "order; quality on the 64 sentences in a fresh process per contender",
        "machine": {"cpu": _cpu(), "cores": os.cpu_count(), "TVM_NUM_THREADS": threads,
                    "python": platform.python_version()},
    }, indent=2))


def _cpu() -> str:
    """The CPU as /proc/cpuinfo names it, with its family/model (a VM often says only "AMD EPYC")
    and the int8 dot-product extensions it exposes."""
    try:
        fields: dict[str, str] = {}
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if not line.strip():
                break
            fields.setdefault(key.strip(), value.strip())
        isa = [f for f in ("avx2", "avx512bw", "avx512_vnni", "avx_vnni") if f in fields.get("flags", "").split()]
        return (f"{fields.get('model name', platform.machine())} (family {fields.get('cpu family', '?')} "
                f"model {fields.get('model', '?')}; {', '.join(isa) or 'no AVX2'})")
    except OSError:
        return platform.processor() or platform.machine()


if __name__ == "__main__":
    main()
