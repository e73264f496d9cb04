"""python -m experiments bench: speed benchmarks -> results/bench.csv, one thread each, side by side.

Rows come from experiments.bench.mlp (the study's MLP per SGD step and per epoch),
experiments.bench.cnn (convolution layers, LeNet epochs, peak memory), experiments.bench.layers (batch
normalisation, dropout, an Adam step) and experiments.faces.bench (the face CNN); every path is timed in
the same process with one timer (median over repeats) after pinning every library to one thread.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from experiments.provenance import ROOT, command_line, stamp, write_csv_atomic

SEED = 0  # every benchmark draws its weights, sample order and data from this seed (recorded per row)
OUT = ROOT / "results" / "bench.csv"


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


def run_bench(quick: bool = False, repeats: int = 7) -> pd.DataFrame:
    from experiments.bench import cnn, layers, mlp
    from experiments.faces import bench as faces
    from experiments.threads import pin

    pin(1)
    rows = mlp.rows(repeats=2 if quick else repeats, steps=300 if quick else 2000, epoch=not quick)
    rows += cnn.rows(quick=quick, repeats=2 if quick else repeats)
    rows += layers.rows(quick=quick, repeats=2 if quick else repeats)
    rows += faces.rows(quick=quick, repeats=2 if quick else repeats)
    prov = {"command": command_line(), "seed": SEED, **stamp(), "quick": quick}
    rows = [{**r, **prov} for r in rows]
    out = OUT if not quick else ROOT / "out" / "bench-quick.csv"
    # every run measures every benchmark, so the table is replaced whole (no stale rows of renamed ones)
    df = pd.DataFrame(rows)
    write_csv_atomic(df, out)
    print(df[["benchmark", "impl", "dtype", "threads", "median_s", "repeats"]].to_string(index=False))
    print(f"-> {out.relative_to(ROOT)}")
    return df
