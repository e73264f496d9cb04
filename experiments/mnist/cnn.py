"""Kind "cnn": the LeNet-style Sequential model on MNIST, NumPy reference and PyTorch twin.

With impl "both", one run trains the reference and then its twin from the same initial weights
(the model's seeded init, copied into the twin) on the same samples in the same order (a
default_rng(seed) permutation per epoch), with mini-batch SGD on the mean softmax cross-entropy at
lr * lr_decay^(epoch-1) (reference.schedules.ExponentialLR, torch's ExponentialLR), and records the largest
difference between their final parameters. Inputs are standardised with the training set's pixel
mean and standard deviation (LeCun's zero-mean advice).
"""

from __future__ import annotations

import numpy as np

from experiments.engines.sequential import SEQUENTIAL_ENGINES, ImageData, max_param_diff
from experiments.kinds import Kind
from experiments.schema import at_least, one_of, positive
from experiments.train import order_for
from reference import optim
from reference.schedules import ExponentialLR
from reference.sequential import lenet

TABLE = "cnn_mnist"


RUN_KEYS = {
    "dataset": (str, "dataset", one_of({"mnist"})),
    "impl": (str, "implementations trained from the same start: numpy, torch or both", one_of(
        {"numpy", "torch", "both"})),
    "model": (str, "model", one_of({"lenet"})),
    "hidden": (int, "hidden dense units after the convolutions (0: none)", at_least(0)),
    "epochs": (int, "training epochs", at_least(1)),
    "batch_size": (int, "mini-batch size", at_least(1)),
    "lr": (float, "learning rate of the first epoch", positive),
    "lr_decay": (float, "factor per epoch (ExponentialLR's gamma; 1: constant)", lambda v: None if 0 < v <= 1
                 else "must lie in (0, 1]"),
    "dtype": (str, "float dtype", one_of({"float64", "float32"})),
    "train_limit": (int, "use only the first N training images (0: all)", at_least(0)),
    "test_limit": (int, "use only the first N test images (0: all)", at_least(0)),
    "path": (str, "the NumPy engine's layers: reference (reference/) or fast (experiments/engines/fast, proven "
             "against it in tests/test_fast_cnn.py)", one_of({"reference", "fast"})),
}
DEFAULTS = {"dataset": "mnist", "impl": "both", "model": "lenet", "hidden": 128, "dtype": "float64",
            "train_limit": 0, "test_limit": 0, "path": "reference"}
# settings added after runs were recorded -> the value those runs had (left out of their identity)
FROZEN = {"path": "reference"}
QUICK = {"train_limit": 2000, "test_limit": 1000, "epochs": 1}


def pixel_mean_std(images: np.ndarray) -> tuple[float, float]:
    """Mean and standard deviation of the pixels x / 255, from the histogram of the uint8 values."""
    counts = np.bincount(images.ravel(), minlength=256).astype(np.float64)
    v = np.arange(256) / 255.0
    n = counts.sum()
    mean = float(counts @ v / n)
    return mean, float(np.sqrt(counts @ (v - mean) ** 2 / n))


def prepare_images(images: np.ndarray, mean: float, std: float, dtype) -> np.ndarray:
    """uint8 (N, H, W) -> (N, 1, H, W) float, (x / 255 - mean) / std."""
    x = images.astype(np.float64) / 255.0
    return ((x - mean) / std).astype(dtype)[:, None, :, :]


def prepare(cfg: dict, mnist) -> ImageData:
    """Standardised images; mean and std from the full training set."""
    mean, std = pixel_mean_std(mnist.train_x)
    tr, te = slice(None, cfg["train_limit"] or None), slice(None, cfg["test_limit"] or None)
    return ImageData(prepare_images(mnist.train_x[tr], mean, std, cfg["dtype"]), mnist.train_y[tr].astype(np.int64),
                     prepare_images(mnist.test_x[te], mean, std, cfg["dtype"]), mnist.test_y[te].astype(np.int64))


def execute(spec, out, *, progress: bool = False) -> list[dict]:
    from experiments.data import load
    from experiments.engines.fast import on_path  # numba: imported where a run uses it, not by the CLI
    from experiments.train import train

    cfg, seed = spec.config, spec.seed
    data = prepare(cfg, load(cfg["dataset"]))
    n = len(data.y_train)
    model = lenet(cfg["hidden"] or None, input_shape=data.X_train.shape[1:], classes=10)
    params0, state0 = model.init(seed, np.dtype(cfg["dtype"]))
    impls = ("numpy", "torch") if cfg["impl"] == "both" else (cfg["impl"],)
    schedule = ExponentialLR(cfg["lr_decay"])
    results, finals = {}, {}
    for impl in impls:
        net = on_path(model, cfg["path"]) if impl == "numpy" else model  # the torch twin is of the reference layers
        engine = SEQUENTIAL_ENGINES[impl](net, params0, state0, data, optim.SGD(),
                                          lambda e: schedule(cfg["lr"], e - 1), cfg["batch_size"], seed=seed)
        final = out.checkpoints / "final" / f"{spec.run_id}.{impl}.npz"
        results[impl] = train(engine, run_id=f"{spec.run_id}.{impl}", label=f"{spec.label}/{impl}",
                              epochs=cfg["epochs"], batch_size=cfg["batch_size"], n_train=n,
                              order_for=lambda e: order_for(seed, e, n),
                              checkpoint=out.checkpoints / f"{spec.run_id}.{impl}.npz",
                              curve_path=out.curves(spec.experiment) / f"{spec.variant}__{spec.run_id}.{impl}.csv",
                              final_path=final, progress=progress)
        finals[impl] = engine.snapshot()
    diff = max_param_diff(finals["numpy"], finals["torch"]) if len(finals) == 2 else float("nan")
    return [{"impl": impl, "model": f"lenet(hidden={cfg['hidden'] or None})", "train_n": n,
             "test_n": len(data.y_test), "test_acc": r["final_test_acc"], **r,
             "max_weight_diff_vs_other": diff, "quick": cfg["train_limit"] > 0} for impl, r in results.items()]


KIND = Kind(name="cnn", table=TABLE, run_keys=RUN_KEYS, defaults=DEFAULTS, execute=execute, quick_settings=QUICK,
            frozen=FROZEN, metrics=("test_acc", "final_train_loss"),
            bench=("experiments.mnist.bench_cnn:rows", "experiments.mnist.bench_fast:rows"),
            equivalence=("experiments.mnist.equivalence_cnn:rows", "experiments.mnist.jax_equivalence:rows"))
validate, quick = KIND.validate, KIND.quick
