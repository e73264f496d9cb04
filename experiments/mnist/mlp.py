"""Kind "mlp": the study's network (Architecture, W[l]) trained by fixed-rate SGD on MNIST.

A run is fully determined by its configuration and seed: the initial weights come from
default_rng([seed, 0]) and epoch e's sample order from default_rng([seed, 1, e]) (or 0..N-1 without
shuffling), so a resumed run continues exactly as an uninterrupted one, and the NumPy and PyTorch
runs of one seed see identical weights and order.
"""

from __future__ import annotations

import numpy as np

from experiments.kinds import Kind
from experiments.mnist.mlp_engines import MLPData, mlp_engine
from experiments.schema import ConfigError, at_least, is_int, one_of, positive
from reference.activations import ACTIVATIONS
from reference.gradient_descent import epoch_order
from reference.losses import STUDY_LOSSES
from reference.network import INIT_SCHEMES, Architecture, init_weights

TABLE = "reproduction"
MNIST_D0, MNIST_CLASSES = 784, 10


# key -> (type, description, check(value) -> error text or None)
RUN_KEYS = {
    "dataset": (str, "dataset", one_of({"mnist"})),
    "impl": (str, "implementation that trains", one_of({"numpy", "torch"})),
    "layers": (list, "layer widths d[0..L]", lambda v: None if len(v) >= 2 and all(is_int(n) and n >= 1 for n in v)
               else "must be a list of at least 2 positive integers"),
    "epochs": (int, "training epochs", at_least(1)),
    "batch_size": (int, "mini-batch size", at_least(1)),
    "lr": (float, "fixed learning rate eta", positive),
    "hidden": (str, "hidden activation", one_of(ACTIVATIONS)),
    "output": (str, "output activation", one_of(ACTIVATIONS)),
    "loss": (str, "loss", one_of(set(STUDY_LOSSES))),
    "loss_scale": (float, "constant c multiplying the pointwise error e_n (0.5: e = 1/2 sum (x-y)^2; 0.1: the mean "
                   "over 10 outputs)", positive),
    "targets": (str, "target coding: onehot (0/1) or pm1 (-1/+1)", one_of({"onehot", "pm1"})),
    "init": (str, "initialisation scheme", one_of(INIT_SCHEMES)),
    "init_gain": (float, "initialisation scale", positive),
    "input_scaling": (str, "input scaling: unit ([0,1]), raw ([0,255]) or standardised", one_of(
        {"unit", "raw", "standardised"})),
    "shuffle": (bool, "reshuffle every epoch", lambda v: None),
    "dtype": (str, "float dtype", one_of({"float64", "float32"})),
    "train_limit": (int, "use only the first N training images (0: all)", at_least(0)),
    "test_limit": (int, "use only the first N test images (0: all)", at_least(0)),
}
DEFAULTS = {
    "dataset": "mnist", "impl": "numpy", "batch_size": 1, "targets": "onehot", "init": "lecun_normal",
    "init_gain": 1.0, "input_scaling": "unit", "shuffle": True, "dtype": "float64", "loss_scale": 1.0,
    "train_limit": 0, "test_limit": 0,
}
QUICK = {"train_limit": 2000, "test_limit": 1000, "epochs": 2}


def check(where: str, out: dict) -> None:
    """The combinations: MNIST widths, loss and output, a trainable activation."""
    d = out["layers"]
    if d[0] != MNIST_D0 or d[-1] != MNIST_CLASSES:
        raise ConfigError(f"{where}: layers {d} do not fit MNIST: d[0] must be {MNIST_D0} and d[L] must be "
                          f"{MNIST_CLASSES}")
    if out["loss"] == "cross_entropy" and out["output"] != "identity":
        raise ConfigError(f"{where}: loss cross_entropy takes the softmax of s[L], so output must be 'identity', "
                          f"got {out['output']!r}")
    if out["loss"] == "cross_entropy" and out["targets"] != "onehot":
        raise ConfigError(f"{where}: loss cross_entropy needs targets 'onehot', got {out['targets']!r}")
    for k in ("hidden", "output"):
        if out[k] == "sign":
            raise ConfigError(f"{where}: {k} activation 'sign' has derivative 0 everywhere and cannot be trained by "
                              f"gradient descent")


def scale_inputs(images: np.ndarray, scaling: str, mean: float, std: float, dtype) -> np.ndarray:
    """uint8 images (N, 28, 28) -> (N, 784): unit x/255, raw x, standardised (x/255 - mean)/std."""
    x = images.reshape(len(images), -1).astype(np.float64)
    if scaling == "unit":
        x = x / 255.0
    elif scaling == "standardised":
        x = (x / 255.0 - mean) / std
    elif scaling != "raw":
        raise ValueError(f"unknown input scaling {scaling!r}")
    return x.astype(dtype)


def targets(labels: np.ndarray, coding: str, dtype) -> np.ndarray:
    """One row per sample: onehot 1 at the label and 0 elsewhere; pm1 +1 at the label and -1 elsewhere."""
    labels = np.asarray(labels)
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise ValueError(f"labels must lie in 0..9, got range {labels.min()}..{labels.max()}")
    Y = np.eye(10, dtype=dtype)[labels]
    return 2 * Y - 1 if coding == "pm1" else Y


def prepare(cfg: dict, mnist) -> MLPData:
    """Scaled inputs and coded targets; standardisation uses the full training set's pixel mean and std."""
    dtype = np.dtype(cfg["dtype"])
    tr, te = slice(None, cfg["train_limit"] or None), slice(None, cfg["test_limit"] or None)
    unit = mnist.train_x.astype(np.float64) / 255.0
    mean, std = float(unit.mean()), float(unit.std())
    return MLPData(
        X_train=scale_inputs(mnist.train_x[tr], cfg["input_scaling"], mean, std, dtype),
        Y_train=targets(mnist.train_y[tr], cfg["targets"], dtype),
        X_test=scale_inputs(mnist.test_x[te], cfg["input_scaling"], mean, std, dtype),
        labels_train=np.asarray(mnist.train_y[tr]), labels_test=np.asarray(mnist.test_y[te]))


def architecture(cfg: dict) -> Architecture:
    return Architecture(tuple(cfg["layers"]), cfg["hidden"], cfg["output"], cfg["loss"])


def initial_weights(cfg: dict, seed: int) -> list:
    return init_weights(architecture(cfg), np.random.default_rng([seed, 0]), cfg["init"], cfg["init_gain"],
                        np.dtype(cfg["dtype"]))


def order_for(seed: int, epoch: int, N: int, shuffle: bool) -> np.ndarray:
    """Epoch `epoch`'s sample order (epochs count from 1)."""
    return epoch_order(N, np.random.default_rng([seed, 1, epoch]) if shuffle else None)


def rate(cfg: dict) -> float:
    """The rate the engines step with: eta * c, where c is cfg['loss_scale'].

    Training on the scaled error c e_n multiplies every gradient by c, so plain SGD at rate eta on c e_n
    makes exactly the updates of SGD at rate c eta on e_n: W <- W - eta (c G) = W - (c eta) G. The
    reported training loss is c E_in, the error actually trained on.
    """
    return cfg["lr"] * cfg["loss_scale"]


def engine(cfg: dict, W0: list, data: MLPData):
    cls = mlp_engine(cfg["impl"], cfg["batch_size"], cfg["dtype"])
    return cls(architecture(cfg), W0, data, rate(cfg), cfg["batch_size"], cfg["loss_scale"])


def execute(spec, out, *, progress: bool = False) -> list[dict]:
    """Train one run to its epochs (resuming from its checkpoint); one row."""
    from experiments.data import load
    from experiments.train import train

    cfg = spec.config
    data = prepare(cfg, load(cfg["dataset"]))
    N = len(data.X_train)
    curve = out.curves(spec.experiment) / f"{spec.variant}__{spec.run_id}.csv"
    result = train(engine(cfg, initial_weights(cfg, spec.seed), data), run_id=spec.run_id, label=spec.label,
                   epochs=cfg["epochs"], batch_size=cfg["batch_size"], n_train=N,
                   order_for=lambda e: order_for(spec.seed, e, N, cfg["shuffle"]),
                   checkpoint=out.checkpoints / f"{spec.run_id}.npz", curve_path=curve,
                   final_path=out.checkpoints / "final" / f"{spec.run_id}.npz", progress=progress)
    return [{**result, "quick": cfg["train_limit"] > 0, "n_train": N, "n_test": len(data.X_test),
             "curve": out.shown(curve)}]


def deterministic(cfg: dict) -> bool:
    """The compiled batch-1 float64 path (numba loops, no BLAS) adds in one fixed order on every machine."""
    return cfg["impl"] == "numpy" and cfg["batch_size"] == 1 and cfg["dtype"] == "float64"


KIND = Kind(name="mlp", table=TABLE, run_keys=RUN_KEYS, defaults=DEFAULTS, execute=execute, check=check,
            quick_settings=QUICK, metrics=("final_test_acc", "final_train_loss"), deterministic=deterministic,
            reports={"reproduction": "experiments.mnist.reproduction:report",
                     "comparison": "experiments.mnist.comparison:report"},
            bench=("experiments.mnist.bench_mlp:kind_rows",), equivalence=("experiments.mnist.trajectories:rows",),
            equivalence_extra=("experiments.mnist.trajectories:extra_tables",))
validate, quick = KIND.validate, KIND.quick
