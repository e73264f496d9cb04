"""Grid rows of the benchmarks: a grid of short training runs on Dask (experiments.cluster) with 1 and 2
workers, and the same runs called one after another in this process, interleaved round by round so that
a machine shared with other work slows every path alike; medians over the rounds.

A run is a real short training of the reference MLP (reference.gradient_descent.sgd_epoch, mini-batch
SGD, tanh hidden layer, softmax cross-entropy) on a seeded synthetic 10-class problem, so the grid needs
no data cache. As a control, the grid also runs on a plain 2-process pool without Dask: the speed-up
the machine itself allows while others share it. Also timed: the same grid with 0 epochs per run (data
generation only, about 15 ms), directly and on 1 worker, whose difference is the Dask path's own cost
(cluster start, task round trips, shutdown) without the noise of the runs' compute on a shared machine.

    python -m experiments bench --cluster [--quick]     -> results/bench_cluster.csv (quick: out/)
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pandas as pd

from experiments.bench.timer import SEED, median_time
from experiments.provenance import ROOT, command_line, stamp, write_csv_atomic

ONE_MINUTE_RUN_S = 60.0  # the yardstick: overhead per grid is judged against a one-minute run


@dataclass(frozen=True)
class ShortRun:
    """One run of the benchmark grid: a seed and how much to train (epochs=0: an empty run)."""

    seed: int
    epochs: int
    n: int = 2000
    d: tuple = (64, 64, 10)
    batch: int = 10

    @property
    def label(self) -> str:
        return f"bench-grid/seed{self.seed}"


def short_run(run: ShortRun) -> dict:
    """Train the reference MLP on a seeded synthetic problem (labels of a random linear teacher); returns
    the final epoch's E_in and the training accuracy. Deterministic in `run`."""
    from reference.forward import predict
    from reference.gradient_descent import epoch_order, sgd_epoch
    from reference.network import Architecture, init_weights

    rng = np.random.default_rng(run.seed)
    d0, dL = run.d[0], run.d[-1]
    X = rng.standard_normal((run.n, d0))
    labels = np.argmax(X @ rng.standard_normal((d0, dL)), axis=1)
    Y = np.eye(dL)[labels]
    arch = Architecture(run.d, "tanh", "identity", "cross_entropy")
    W = init_weights(arch, rng)
    e_in = float("nan")
    for _ in range(run.epochs):
        W, e_in = sgd_epoch(arch, W, X, Y, 0.05, run.batch, epoch_order(run.n, rng))
    accuracy = float(np.mean(predict(arch, W, X) == labels))
    return {"seed": run.seed, "E_in": e_in, "train_accuracy": accuracy}


def grid(n_runs: int, epochs: int) -> list:
    return [ShortRun(SEED + i, epochs) for i in range(n_runs)]


def direct(runs: list) -> dict:
    """The runs called one after another in this process (the baseline)."""
    return {run: short_run(run) for run in runs}


def on_dask(runs: list, workers: int) -> dict:
    """The runs through experiments.cluster.iterate on a fresh local cluster (its start and stop included)."""
    from experiments.cluster import iterate

    out = {}
    for run, result, error in iterate(short_run, runs, workers=workers, progress=False):
        if error is not None:
            raise RuntimeError(f"benchmark run failed: {error}")
        out[run] = result
    return out


def process_pool(runs: list, workers: int) -> dict:
    """The runs on a plain process pool, no Dask: the speed-up the machine itself allows at the moment."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        return dict(zip(runs, pool.map(short_run, runs)))


def rows(rounds: int = 3, n_runs: int = 8, epochs: int = 450) -> list:
    """Median wall seconds per grid of each path; ratio says what each is compared with (column ratio_of)."""
    runs, empty = grid(n_runs, epochs), grid(n_runs, 0)
    paths = {
        ("direct", 1, "runs"): lambda: direct(runs),
        ("dask", 1, "runs"): lambda: on_dask(runs, 1),
        ("dask", 2, "runs"): lambda: on_dask(runs, 2),
        ("process pool", 2, "runs"): lambda: process_pool(runs, 2),
        ("direct", 1, "empty runs"): lambda: direct(empty),
        ("dask", 1, "empty runs"): lambda: on_dask(empty, 1),
    }
    short_run(ShortRun(SEED, 1))  # imports warmed, so round 1 of "direct" is not charged for them
    reference = None
    times = {key: [] for key in paths}
    loads = [os.getloadavg()[0]]
    for _ in range(rounds):
        for key, fn in paths.items():
            results = {}
            times[key].append(median_time(lambda fn=fn, results=results: results.update(fn()), repeats=1))
            reference = results if reference is None else reference  # "direct" comes first in every round
            if key[2] == "runs" and results != reference:
                raise AssertionError(f"{key[0]} with {key[1]} worker(s) gave other results than the direct runs")
        loads.append(os.getloadavg()[0])
    med = {key: float(np.median(t)) for key, t in times.items()}
    t_direct, t_one, t_two, t_pool, t_empty_direct, t_empty = (med[k] for k in paths)

    def paired(a, b):  # per-round differences: the two paths ran back to back
        return [x - y for x, y in zip(times[a], times[b])]

    overheads = paired(("dask", 1, "runs"), ("direct", 1, "runs"))
    empty_overheads = paired(("dask", 1, "empty runs"), ("direct", 1, "empty runs"))
    overhead, empty_overhead = float(np.median(overheads)), float(np.median(empty_overheads))
    grid_name, empty_name = f"grid of {n_runs} runs ({epochs} epochs each)", f"grid of {n_runs} runs of 0 epochs"
    minute = "this / a one-minute run"
    listed = [times[k] for k in paths] + [overheads, empty_overheads]
    out = [
        (grid_name, "direct", 1, t_direct, 1.0, "direct / this"),
        (grid_name, "dask", 1, t_one, t_direct / t_one, "direct / this"),
        (grid_name, "dask", 2, t_two, t_one / t_two, "speed-up: dask 1 worker / this"),
        (grid_name, "process pool (control, no Dask)", 2, t_pool, t_direct / t_pool, "speed-up: direct / this"),
        (empty_name, "direct", 1, t_empty_direct, t_empty_direct / ONE_MINUTE_RUN_S, minute),
        (empty_name, "dask", 1, t_empty, t_empty / ONE_MINUTE_RUN_S, minute),
        (f"dask overhead per {grid_name}", "dask - direct", 1, overhead, overhead / ONE_MINUTE_RUN_S, minute),
        (f"dask overhead per {empty_name}", "dask - direct", 1, empty_overhead, empty_overhead / ONE_MINUTE_RUN_S,
         minute),
    ]
    shared = {"rounds": rounds, "run_s_direct": t_direct / n_runs, "load_1min_min": min(loads),
              "load_1min_max": max(loads), "cpus": os.cpu_count()}
    keys = ("name", "path", "workers", "seconds", "ratio", "ratio_of")
    return [{**dict(zip(keys, row)), **shared, "all_seconds": " ".join(f"{t:.3f}" for t in each)}
            for row, each in zip(out, listed)]


def run(quick: bool = False, rounds: int = 3) -> pd.DataFrame:
    """`python -m experiments bench --cluster`: the rows into results/bench_cluster.csv (quick: 1 round of
    short runs into out/bench_cluster-quick.csv, labelled)."""
    from experiments.threads import pin

    pin(1)
    n_rounds, epochs = (1, 30) if quick else (rounds, 450)
    df = pd.DataFrame([{**r, "command": command_line(), "seed": SEED, **stamp(), "quick": quick}
                       for r in rows(n_rounds, 8, epochs)])
    out = ROOT / "out" / "bench_cluster-quick.csv" if quick else ROOT / "results" / "bench_cluster.csv"
    write_csv_atomic(df, out)
    print(df[["name", "path", "workers", "seconds", "ratio", "ratio_of"]].to_string(index=False))
    print(f"load average (1 min) during the runs: {df.load_1min_min[0]:.2f} to {df.load_1min_max[0]:.2f} "
          f"on {df.cpus[0]} cpus -> {out}")
    return df
