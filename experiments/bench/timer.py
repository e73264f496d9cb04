"""The one timer of the benchmarks: medians over repeats, and the seed every benchmark draws from."""

from __future__ import annotations

import time

import numpy as np

SEED = 0  # every benchmark draws its weights, sample order and data from this seed (recorded per row)


def median_time(fn, repeats: int, per: int = 1, warmup: bool = False) -> float:
    """Median over `repeats` of the seconds one call of fn takes, divided by `per` (steps per call)."""
    if warmup:
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) / per)
    return float(np.median(times))
