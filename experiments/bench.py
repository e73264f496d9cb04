"""python -m experiments bench: speed benchmarks -> results/bench.csv.

MLP (issue 4): seconds per SGD step at batch size 1 for the study's 784-128-64-10 network, one thread
each, median of repeats, float64 and float32: the readable NumPy reference
(reference.gradient_descent), the in-place NumPy path (reference.sgd_fast), the compiled path
(experiments.fast_mlp, float64 only) and PyTorch eager (framework.mlp); and one full epoch
(60,000 steps) for the fastest NumPy path and PyTorch eager. CNN rows come from experiments.bench_cnn.
Every path is timed in the same process, side by side, on the same MNIST samples.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import time

import numpy as np
import pandas as pd

from experiments.provenance import ROOT, command_line, stamp, write_csv_atomic

OUT = ROOT / "results" / "bench.csv"
SEED = 0  # every benchmark draws its weights, sample order and data from this seed (recorded per row)


def _median_per_step(fn, steps: int, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(steps)
        times.append((time.perf_counter() - t0) / steps)
    return float(np.median(times))


def mlp_step_rows(repeats: int = 7, steps: int = 2000, epoch: bool = True) -> list:
    import torch

    from experiments.fast_mlp import FastBatch1Trainer
    from experiments.mlp_run import initial_weights, order_for, prepare
    from experiments.mnist import load_mnist
    from framework.mlp import MLP, sgd_epoch as torch_epoch
    from reference.gradient_descent import sgd_epoch
    from reference.network import Architecture, copy_weights
    from reference.sgd_fast import sgd_epoch_batch1, sparse_rows

    torch.set_num_threads(1)
    base = {"layers": [784, 128, 64, 10], "hidden": "sigmoid", "output": "sigmoid", "loss": "squared_error", "lr": 0.1,
            "targets": "onehot", "init": "lecun_normal", "init_gain": 1.0, "input_scaling": "unit", "shuffle": True}
    mnist = load_mnist()
    rows = []
    for dtype in ("float64", "float32"):
        cfg = {**base, "dtype": dtype}
        data = prepare(cfg, mnist)
        arch = Architecture((784, 128, 64, 10), "sigmoid", "sigmoid", "squared_error")
        W0 = initial_weights(cfg, SEED)
        order = order_for(SEED, 1, 60000, True)
        X, Y = data.X_train, data.Y_train
        rows_sparse = sparse_rows(X)
        W_fast = copy_weights(W0)
        model = MLP(arch, W0)
        Xt, Yt = torch.from_numpy(X), torch.from_numpy(Y)
        paths = {
            "numpy-readable": lambda k: sgd_epoch(arch, copy_weights(W0), X, Y, 0.1, 1, order[:k]),
            "numpy-inplace": lambda k: sgd_epoch_batch1(arch, W_fast, X, Y, 0.1, order[:k], rows_sparse),
            "torch-eager": lambda k: torch_epoch(model, Xt, Yt, 0.1, 1, order[:k]),
        }
        if dtype == "float64":
            fast = FastBatch1Trainer(arch, W0, X, Y)
            fast.epoch(0.1, order[:10])  # compile outside the timing
            paths["numpy-compiled"] = lambda k: fast.epoch(0.1, order[:k])
        for impl, fn in paths.items():
            med = _median_per_step(fn, steps if impl != "numpy-readable" else steps // 4, repeats)
            rows.append({"benchmark": "mlp-784-128-64-10 sgd step batch1", "impl": impl, "dtype": dtype, "threads": 1,
                         "median_s": med, "repeats": repeats, "unit": "seconds per step",
                         "notes": f"{steps if impl != 'numpy-readable' else steps // 4} steps per repeat on MNIST [0,1], sigmoid/sigmoid squared error"})
        if epoch and dtype == "float64":
            for impl in ("numpy-compiled", "torch-eager"):
                med = _median_per_step(paths[impl], 60000, 1) * 60000
                rows.append({"benchmark": "mlp-784-128-64-10 one epoch batch1 (60000 steps)", "impl": impl, "dtype": dtype,
                             "threads": 1, "median_s": med, "repeats": 1, "unit": "seconds per epoch",
                             "notes": f"100-epoch estimate {med * 100 / 60:.1f} min"})
    return rows


def run_bench(quick: bool = False, repeats: int = 7) -> pd.DataFrame:
    rows = mlp_step_rows(repeats=2 if quick else repeats, steps=300 if quick else 2000, epoch=not quick)
    try:
        from experiments.bench_cnn import rows as cnn_rows
        rows += cnn_rows(quick=quick, repeats=2 if quick else repeats)
    except ImportError as e:
        raise SystemExit(f"experiments.bench_cnn is missing: {e}")
    prov = {"command": command_line(), "seed": SEED, **stamp(), "quick": quick}
    rows = [{**r, **prov} for r in rows]
    out = OUT if not quick else ROOT / "results" / "quick" / "bench.csv"
    # every run measures every benchmark, so the table is replaced whole (no stale rows of renamed ones)
    df = pd.DataFrame(rows)
    write_csv_atomic(df, out)
    show = pd.DataFrame(rows)[["benchmark", "impl", "dtype", "threads", "median_s", "repeats"]]
    print(show.to_string(index=False))
    print(f"-> {out.relative_to(ROOT)}")
    return df
