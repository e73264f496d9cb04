"""MLP rows of python -m experiments bench: seconds per SGD step at batch size 1 for the study's
784-128-64-10 network, float64 and float32: the readable NumPy reference (reference.gradient_descent),
the in-place NumPy path (reference.sgd_fast), the compiled path (experiments/mnist/compiled_mlp.py,
float64 only) and PyTorch eager (framework.mlp); and one full epoch (60,000 steps) for the compiled
path and PyTorch eager, on the same MNIST samples.
"""

from __future__ import annotations

from experiments.bench.timer import SEED, median_time


def step_paths(cfg: dict, mnist) -> dict:
    """impl -> fn(k) running k SGD steps at batch size 1 from the same weights on the same samples."""
    import torch

    from experiments.mnist.compiled_mlp import FastBatch1Trainer
    from experiments.mnist.mlp import initial_weights, order_for, prepare
    from framework.mlp import MLP
    from framework.mlp import sgd_epoch as torch_epoch
    from reference.gradient_descent import sgd_epoch
    from reference.network import Architecture, copy_weights
    from reference.sgd_fast import sgd_epoch_batch1, sparse_rows

    data = prepare(cfg, mnist)
    arch = Architecture(tuple(cfg["layers"]), cfg["hidden"], cfg["output"], cfg["loss"])
    W0 = initial_weights(cfg, SEED)
    order = order_for(SEED, 1, len(data.X_train), True)
    X, Y = data.X_train, data.Y_train
    rows_sparse, W_fast, model = sparse_rows(X), copy_weights(W0), MLP(arch, W0)
    Xt, Yt = torch.from_numpy(X), torch.from_numpy(Y)
    paths = {
        "numpy-readable": lambda k: sgd_epoch(arch, copy_weights(W0), X, Y, 0.1, 1, order[:k]),
        "numpy-inplace": lambda k: sgd_epoch_batch1(arch, W_fast, X, Y, 0.1, order[:k], rows_sparse),
        "torch-eager": lambda k: torch_epoch(model, Xt, Yt, 0.1, 1, order[:k]),
    }
    if cfg["dtype"] == "float64":
        fast = FastBatch1Trainer(arch, W0, X, Y)
        fast.epoch(0.1, order[:10])  # compile outside the timing
        paths["numpy-compiled"] = lambda k: fast.epoch(0.1, order[:k])
    return paths


def rows(repeats: int = 7, steps: int = 2000, epoch: bool = True) -> list:
    from experiments.data import load
    from experiments.mnist.mlp import DEFAULTS

    base = {**DEFAULTS, "layers": [784, 128, 64, 10], "hidden": "sigmoid", "output": "sigmoid",
            "loss": "squared_error", "lr": 0.1, "targets": "onehot", "init": "lecun_normal", "init_gain": 1.0,
            "input_scaling": "unit", "shuffle": True}
    mnist = load("mnist")
    rows = []
    for dtype in ("float64", "float32"):
        paths = step_paths({**base, "dtype": dtype}, mnist)
        for impl, fn in paths.items():
            k = steps if impl != "numpy-readable" else steps // 4
            med = median_time(lambda fn=fn, k=k: fn(k), repeats, per=k)
            rows.append({"benchmark": "mlp-784-128-64-10 sgd step batch1", "impl": impl, "dtype": dtype, "threads": 1,
                         "median_s": med, "repeats": repeats, "unit": "seconds per step",
                         "notes": f"{k} steps per repeat on MNIST [0,1], sigmoid/sigmoid squared error"})
        if epoch and dtype == "float64":
            for impl in ("numpy-compiled", "torch-eager"):
                med = median_time(lambda fn=paths[impl]: fn(60000), 1)
                rows.append({"benchmark": "mlp-784-128-64-10 one epoch batch1 (60000 steps)", "impl": impl,
                             "dtype": dtype, "threads": 1, "median_s": med, "repeats": 1, "unit": "seconds per epoch",
                             "notes": f"100-epoch estimate {med * 100 / 60:.1f} min"})
    return rows


def kind_rows(quick: bool, repeats: int) -> list:
    """The rows of `python -m experiments bench` (quick: fewer steps, no epoch)."""
    return rows(repeats=repeats, steps=300 if quick else 2000, epoch=not quick)
