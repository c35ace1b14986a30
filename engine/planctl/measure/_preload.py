"""Imported once by the measurement forkserver (planctl.measure.benchmark): what every contender's
process needs, imported the way apply imports it (TVM without torch, see planctl.lowering.tvm_env)."""
from planctl.lowering.tvm_env import import_tvm

import_tvm()

import numpy  # noqa: E402,F401
import onnxruntime  # noqa: E402,F401
from tvm import relax  # noqa: E402,F401

import planctl.lowering.vm  # noqa: E402,F401
import planctl.measure.latency  # noqa: E402,F401
