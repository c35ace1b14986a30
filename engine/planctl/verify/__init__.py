"""planctl.verify: hypothesis parity of a candidate build against a reference, per production shape.

No TVM import here: the lead's ``apply`` passes the candidate and reference as callables
``{input name: np.ndarray} -> list[np.ndarray]``.
"""
from planctl.verify.counterexample import load_counterexample
from planctl.verify.parity import OutputParity, ParityResult, check_parity
from planctl.verify.replay import replay_counterexample
from planctl.verify.strategies import example_inputs, inputs_strategy, production_shape_envs

__all__ = ["OutputParity", "ParityResult", "check_parity", "example_inputs", "inputs_strategy",
           "load_counterexample", "production_shape_envs", "replay_counterexample"]
