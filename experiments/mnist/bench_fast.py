"""LeNet rows of the fast CNN path for python -m experiments bench: one epoch, fast vs torch eager vs reference.

One LeNet training epoch (938 SGD steps at batch 64 on MNIST, lr 0.05; quick: 50 steps), float32 and float64,
the three engines from the same weights on the same sample order, interleaved (experiments/bench/fast_cnn.py),
and the tracemalloc peak of one fast training step at batch 64 (float32; the reference's is bench_cnn's row).
"""

from __future__ import annotations

import numpy as np

from experiments.bench.fast_cnn import IMPLS, interleaved, peak_of, row
from experiments.bench.timer import SEED
from experiments.threads import pin


def lenet_epoch_calls(dtype, steps: int) -> dict:
    """{impl: one LeNet training run of `steps` SGD steps at batch 64}."""
    from experiments.engines.fast import fast
    from experiments.engines.sequential import SEQUENTIAL_ENGINES, ImageData
    from experiments.mnist.bench_cnn import BATCH, _mnist
    from experiments.train import order_for
    from reference import optim
    from reference import sequential as seq

    X, y = _mnist(np.dtype(dtype).name, steps * BATCH)
    model = seq.lenet()
    p0, s0 = model.init(SEED, dtype)
    data, order = ImageData(X, y, X[:0], y[:0]), order_for(SEED, 1, len(y))
    engines = {impl: SEQUENTIAL_ENGINES["torch" if impl == "torch" else "numpy"](
        model, p0, s0, data, optim.SGD(), lambda epoch: 0.05, BATCH) for impl in IMPLS}
    engines["fast"].model = fast(model)
    return {impl: (lambda e=e: e.epoch(order, 1)) for impl, e in engines.items()}


def epoch_rows(quick: bool, repeats: int) -> list[dict]:
    threads = pin(1)
    steps = 50 if quick else 938
    repeats = 1 if quick else max(1, repeats // 2)
    out = []
    for dtype in (np.float32, np.float64):
        faults = {}
        t = interleaved(lenet_epoch_calls(dtype, steps), repeats, faults=faults)
        label = "one epoch (938 steps)" if steps == 938 else f"{steps} steps"
        out += row(f"lenet() cnn sgd batch 64 {label}", dtype, t, repeats, "seconds per run",
                   f"MNIST, lr 0.05; {threads}", faults=faults)
    return out


def memory_row() -> dict:
    from experiments.engines.fast import fast
    from experiments.mnist.bench_cnn import BATCH, _mnist
    from reference import optim
    from reference import sequential as seq

    X, y = _mnist("float32", BATCH)
    model = fast(seq.lenet())
    params, state = model.init(SEED, np.float32)
    sgd = optim.SGD()
    opt_state = sgd.init(params)

    def step():
        sgd.step(params, model.loss_and_grads(X, y, params, state).grads, opt_state, 0.05)

    return {"benchmark": f"lenet() cnn one training step batch {BATCH} peak memory", "impl": "fast",
            "dtype": "float32", "threads": 1, "median_s": float("nan"), "repeats": 1, "unit": "MB",
            "peak_mem_mb": peak_of(step), "notes": "tracemalloc peak of allocations during forward+backward+update "
            "(NumPy buffers included; parameters and batch allocated before are not counted)"}


def rows(quick: bool = False, repeats: int = 5) -> list[dict]:
    """The LeNet epoch rows (three implementations each) and the fast step's peak memory."""
    return [{**r, "quick": quick} for r in epoch_rows(quick, repeats) + [memory_row()]]


def profile_target(path: str, steps: int):
    """A function running `steps` LeNet SGD steps at batch 64, float32, on the NumPy path `path` (reference or
    fast), for experiments/bench/profile_cnn.py."""
    return lenet_epoch_calls(np.float32, steps)["fast" if path == "fast" else "numpy-reference"]
