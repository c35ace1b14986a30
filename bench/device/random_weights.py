"""MiniLM's graph without its 90 MB of weights, and back with random ones (bench/device/xeon_avx512.sh).

``strip IN.onnx DIR``: DIR/graph.onnx with every float32 initializer over 2048 values emptied, and
DIR/stats.json with each one's mean and std. ``fill DIR OUT.onnx``: the same graph with those
initializers drawn from N(mean, std) (seed 0). The graph, shapes and dtypes are the real model's,
so TVM's tasks and the committed tuning records match it; latency does not depend on the weights'
values; parity and quality then compare TVM and onnxruntime on this file, not the trained model."""
import json
import sys
from pathlib import Path
import numpy as np
import onnx
from onnx import numpy_helper

def strip(src, out):
    m = onnx.load(src)
    stats = {}
    for t in m.graph.initializer:
        a = numpy_helper.to_array(t)
        if a.dtype == np.float32 and a.size > 2048:
            stats[t.name] = [float(a.mean()), float(a.std())]
            t.ClearField("raw_data"); t.ClearField("float_data")
    Path(out).mkdir(parents=True, exist_ok=True)
    onnx.save(m, f"{out}/graph.onnx")
    Path(f"{out}/stats.json").write_text(json.dumps(stats))

def fill(src, dst):
    m = onnx.load(f"{src}/graph.onnx")
    stats = json.loads(Path(f"{src}/stats.json").read_text())
    rng = np.random.default_rng(0)
    for t in m.graph.initializer:
        if t.name in stats:
            mean, std = stats[t.name]
            a = rng.normal(mean, std, size=tuple(t.dims)).astype(np.float32)
            t.CopyFrom(numpy_helper.from_array(a, t.name))
    onnx.save(m, dst)

if __name__ == "__main__":
    {"strip": strip, "fill": fill}[sys.argv[1]](sys.argv[2], sys.argv[3])
