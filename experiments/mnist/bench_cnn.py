"""CNN rows of python -m experiments bench (results/bench.csv).

- One convolution layer, forward plus backward (output, and the gradients for the input, the
  kernel and the bias), batch 64, float32: 1 -> 8 channels 5x5 on 28x28 and 8 -> 16 channels 5x5
  on 12x12 (LeNet's two layers); the reference (reference/conv.py) against F.conv2d + autograd.
- The LeNet CNN (reference/sequential.py vs framework/cnn.py): one training epoch, 938 SGD steps
  at batch 64 on MNIST (quick: 50 steps), float32 and float64.
- Peak memory of one NumPy training step at batch 64: the peak of the memory allocated *during*
  the step (forward, backward, update), measured by tracemalloc, which sees NumPy's array buffers;
  the parameters and the batch, allocated before, are not counted. Not the process RSS (which
  includes the Python interpreter, PyTorch and MNIST).

One thread each: torch.set_num_threads(1), and NumPy's OpenBLAS set to one thread through its C
API (experiments.threads.set_blas_threads; OPENBLAS_NUM_THREADS only acts before NumPy's first
import); the thread counts in effect are written in the notes. Times are medians over `repeats` (the epoch: 1 repeat
unless quick). Rows: benchmark, impl, dtype, threads, median_s, repeats, unit, notes, peak_mem_mb.
"""

from __future__ import annotations

import tracemalloc

import numpy as np

from experiments.bench.timer import SEED, median_time
from experiments.threads import pin

CONV_LAYERS = (  # (c_in, c_out, H, W)
    (1, 8, 28, 28),
    (8, 16, 12, 12),
)
BATCH = 64


def conv_calls(rng, c_in: int, c_out: int, H: int, W: int):
    """(reference, pytorch): one forward+backward of a 5x5 convolution each, on the same random data."""
    import torch
    import torch.nn.functional as F

    from reference import conv

    x = rng.normal(size=(BATCH, c_in, H, W)).astype(np.float32)
    K = rng.normal(size=(c_out, c_in, 5, 5)).astype(np.float32)
    b = rng.normal(size=c_out).astype(np.float32)
    ds = rng.normal(size=(BATCH, c_out, H - 4, W - 4)).astype(np.float32)

    def reference():
        s, cache = conv.forward(x, K, b)
        return conv.backward(ds, cache)

    xt = torch.from_numpy(x).requires_grad_(True)
    Kt = torch.from_numpy(K).requires_grad_(True)
    bt = torch.from_numpy(b).requires_grad_(True)
    dst = torch.from_numpy(ds)

    def pytorch():
        xt.grad = Kt.grad = bt.grad = None
        F.conv2d(xt, Kt, bt).backward(dst)

    return reference, pytorch


def conv_layer_rows(repeats: int, inner: int) -> list[dict]:
    threads = pin(1)
    rows = []
    rng = np.random.default_rng(SEED)
    for c_in, c_out, H, W in CONV_LAYERS:
        reference, pytorch = conv_calls(rng, c_in, c_out, H, W)
        name = f"conv {c_in}->{c_out} 5x5 on {H}x{W} batch {BATCH} forward+backward"
        t_ref = median_time(lambda f=reference: [f() for _ in range(inner)], repeats, per=inner, warmup=True)
        t_torch = median_time(lambda f=pytorch: [f() for _ in range(inner)], repeats, per=inner, warmup=True)
        note = (f"input, kernel and bias gradients; reference/torch = {t_ref / t_torch:.2f}x; "
                f"{inner} calls per repeat; {threads}")
        rows.append({"benchmark": name, "impl": "numpy-reference", "dtype": "float32", "threads": 1,
                     "median_s": t_ref, "repeats": repeats, "unit": "seconds per call", "notes": note})
        rows.append({"benchmark": name, "impl": "torch", "dtype": "float32", "threads": 1,
                     "median_s": t_torch, "repeats": repeats, "unit": "seconds per call", "notes": note})
    return rows


def _mnist(dtype: str, n: int):
    from experiments.data import load
    from experiments.mnist.cnn import prepare

    d = prepare({"dtype": dtype, "train_limit": n, "test_limit": 1}, load("mnist"))
    return d.X_train, d.y_train


def epoch_rows(quick: bool) -> list[dict]:
    import time

    from experiments.engines.sequential import SEQUENTIAL_ENGINES, ImageData
    from experiments.train import order_for
    from reference import optim
    from reference import sequential as seq

    threads = pin(1)
    steps = 50 if quick else 938  # 938 = ceil(60000 / 64): one epoch
    rows = []
    for dtype in ("float32", "float64"):
        X, y = _mnist(dtype, min(60000, steps * BATCH))
        model = seq.lenet()
        p0, s0 = model.init(SEED, np.dtype(dtype))
        data, order = ImageData(X, y, X[:0], y[:0]), order_for(SEED, 1, len(y))
        t = {}
        for impl, engine in SEQUENTIAL_ENGINES.items():
            e = engine(model, p0, s0, data, optim.SGD(), lambda epoch: 0.05, BATCH)
            t0 = time.perf_counter()
            e.epoch(order, 1)
            t[impl] = time.perf_counter() - t0
        t_np, t_t = t["numpy"], t["torch"]
        label = "one epoch (938 steps)" if steps == 938 else f"{steps} steps"
        name = f"lenet() cnn (conv 1->8, 8->16, dense 256->10) sgd batch {BATCH} {label}"
        note = f"MNIST, lr 0.05; reference/torch = {t_np / t_t:.2f}x; {threads}"
        for impl, t in (("numpy-reference", t_np), ("torch", t_t)):
            rows.append({"benchmark": name, "impl": impl, "dtype": dtype, "threads": 1, "median_s": t,
                         "repeats": 1, "unit": "seconds per run", "notes": note})
    return rows


def peak_memory_rows() -> list[dict]:
    from reference import optim
    from reference import sequential as seq

    rows = []
    for dtype in ("float32", "float64"):
        X, y = _mnist(dtype, BATCH)
        model = seq.lenet()
        params, state = model.init(SEED, np.dtype(dtype))
        sgd = optim.SGD()
        opt_state = sgd.init(params)
        model.loss_and_grads(X, y, params, state)  # warm-up outside the measurement
        tracemalloc.start()
        _, grads, _, _ = model.loss_and_grads(X, y, params, state)
        sgd.step(params, grads, opt_state, 0.05)
        del grads
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rows.append({"benchmark": f"lenet() cnn one training step batch {BATCH} peak memory", "impl": "numpy-reference",
                     "dtype": dtype, "threads": 1, "median_s": float("nan"), "repeats": 1, "unit": "MB",
                     "peak_mem_mb": peak / 2**20,
                     "notes": "tracemalloc peak of allocations during forward+backward+update "
                              "(NumPy buffers included; parameters and batch allocated before are not counted)"})
    return rows


def rows(quick: bool = False, repeats: int = 5) -> list[dict]:
    """Rows for results/bench.csv: conv layers, LeNet training, peak memory of a NumPy step."""
    out = conv_layer_rows(repeats=repeats, inner=2 if quick else 20)
    out += epoch_rows(quick)
    out += peak_memory_rows()
    return [{**r, "quick": quick} for r in out]
