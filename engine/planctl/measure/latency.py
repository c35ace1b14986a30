"""Wall-clock latency of contenders (baseline, candidate, onnxruntime) measured side by side.

Interleaving (A B A B ... after warm-up) spreads slow drift of the machine (frequency scaling, thermal
state, other tenants) over every contender instead of charging it to whichever ran last; it is the
usual remedy in benchmarking practice (e.g. Georges, Buytaert & Eeckhout, OOPSLA 2007). Timing is
``time.perf_counter_ns`` around one call; the callable must bind its inputs and synchronize the device
before returning (this module cannot see device queues).
"""
from __future__ import annotations

import time
from typing import Any, Callable, Mapping, TypeVar

from planctl.measure.stats import LatencyStats

T = TypeVar("T")
MIN_SAMPLES = 3   # max_seconds never leaves fewer, so every statistic has a distribution behind it


def _per(value: T | Mapping[str, T], name: str) -> T:
    """A setting given once for all contenders or per contender name."""
    return value[name] if isinstance(value, Mapping) else value


def time_call_ms(fn: Callable[[], Any]) -> float:
    """Milliseconds one call of ``fn`` takes (perf_counter_ns)."""
    start = time.perf_counter_ns()
    fn()
    return (time.perf_counter_ns() - start) / 1e6


def measure_latency(contenders: Mapping[str, Callable[[], Any]], *, warmup: int | Mapping[str, int],
                    repeats: int | Mapping[str, int], interleave: bool = True,
                    max_seconds: float | Mapping[str, float | None] | None = None,
                    batch_size: int = 1) -> dict[str, LatencyStats]:
    """Time each contender; returns ``{name: LatencyStats}`` in the order of ``contenders``.

    ``warmup``/``repeats``/``max_seconds``: one value for all, or a dict by contender name (the untuned
    baseline takes seconds per call, the tuned build milliseconds). Every contender's warm-up runs first
    (in order), then sampling: with ``interleave`` one call per contender per round, in the order of
    ``contenders``, skipping those already done; without it, each contender's samples back to back.
    ``max_seconds`` caps the summed sampled time of one contender (warm-up not counted): sampling stops
    once it is reached and at least ``MIN_SAMPLES`` samples exist. ``batch_size``: items per call.
    Raises ValueError for ``repeats < 1`` or ``warmup < 0``; exceptions of a contender propagate.
    """
    names = list(contenders)
    plan = {n: (_per(warmup, n), _per(repeats, n), _per(max_seconds, n)) for n in names}
    for n, (w, r, _) in plan.items():
        if r < 1 or w < 0:
            raise ValueError(f"{n}: repeats must be >= 1 and warmup >= 0 (got repeats={r}, warmup={w})")
    for n in names:
        for _ in range(plan[n][0]):
            contenders[n]()
    samples: dict[str, list[float]] = {n: [] for n in names}
    if interleave:
        _sample_interleaved(contenders, plan, samples)
    else:
        for n in names:
            _sample_one(contenders[n], plan[n], samples[n])
    return {n: LatencyStats.from_samples(samples[n], batch_size=batch_size, warmup=plan[n][0],
                                         interleaved=interleave and len(names) > 1,
                                         stopped_early=len(samples[n]) < plan[n][1]) for n in names}


def _done(samples: list[float], repeats: int, max_seconds: float | None) -> bool:
    if len(samples) >= repeats:
        return True
    return max_seconds is not None and len(samples) >= MIN_SAMPLES and sum(samples) >= max_seconds * 1e3


def _sample_interleaved(contenders: Mapping[str, Callable[[], Any]], plan: dict, samples: dict) -> None:
    active = list(contenders)
    while active:
        for n in active:
            samples[n].append(time_call_ms(contenders[n]))
        active = [n for n in active if not _done(samples[n], plan[n][1], plan[n][2])]


def _sample_one(fn: Callable[[], Any], plan: tuple, samples: list[float]) -> None:
    while not _done(samples, plan[1], plan[2]):
        samples.append(time_call_ms(fn))
