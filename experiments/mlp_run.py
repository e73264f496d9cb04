"""One training run of the study's network on MNIST: data preparation, initialisation, epochs,
per-epoch curve, checkpoints (resume from the last finished epoch), final row.

A run is fully determined by (configuration, seed, impl): the initial weights come from
default_rng([seed, 0]) and epoch e's sample order from default_rng([seed, 1, e]) (or 0..N-1 without
shuffling), so a resumed run continues exactly as an uninterrupted one, and the NumPy and PyTorch
runs of one seed see identical weights and order.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from experiments.progress import progress_bar
from experiments.provenance import ROOT, write_csv_atomic
from reference.forward import predict
from reference.gradient_descent import epoch_order, sgd_epoch
from reference.network import Architecture, copy_weights, init_weights

CHECKPOINT_DIR = ROOT / "checkpoints"


@dataclass
class Data:
    X_train: np.ndarray
    Y_train: np.ndarray
    X_test: np.ndarray
    labels_train: np.ndarray
    labels_test: np.ndarray


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


def prepare(cfg: dict, mnist, n_train: int | None = None, n_test: int | None = None) -> Data:
    """Scaled inputs and coded targets; standardisation uses the training set's pixel mean and std."""
    dtype = np.dtype(cfg["dtype"])
    tr, te = mnist.train_images[:n_train], mnist.test_images[:n_test]
    unit = mnist.train_images.astype(np.float64) / 255.0
    mean, std = float(unit.mean()), float(unit.std())
    return Data(
        X_train=scale_inputs(tr, cfg["input_scaling"], mean, std, dtype),
        Y_train=targets(mnist.train_labels[:n_train], cfg["targets"], dtype),
        X_test=scale_inputs(te, cfg["input_scaling"], mean, std, dtype),
        labels_train=np.asarray(mnist.train_labels[:n_train]),
        labels_test=np.asarray(mnist.test_labels[:n_test]),
    )


def architecture(cfg: dict) -> Architecture:
    return Architecture(tuple(cfg["layers"]), cfg["hidden"], cfg["output"], cfg["loss"])


def initial_weights(cfg: dict, seed: int) -> list:
    return init_weights(architecture(cfg), np.random.default_rng([seed, 0]), cfg["init"], cfg["init_gain"], np.dtype(cfg["dtype"]))


def order_for(seed: int, epoch: int, N: int, shuffle: bool) -> np.ndarray:
    """Epoch `epoch`'s sample order (epochs count from 1)."""
    return epoch_order(N, np.random.default_rng([seed, 1, epoch]) if shuffle else None)


def config_hash(cfg: dict, seed: int, impl: str, n_train, n_test) -> str:
    blob = json.dumps({"cfg": cfg, "seed": seed, "impl": impl, "n_train": n_train, "n_test": n_test}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def rate(cfg: dict) -> float:
    """The rate the engines step with: eta * c, where c is cfg['loss_scale'].

    Training on the scaled error c e_n (c = 1/2 for e = 1/2 sum_j (x_j - y_j)^2, c = 1/10 for the mean
    over the 10 outputs) multiplies every gradient by c, so plain SGD at rate eta on c e_n makes
    exactly the updates of SGD at rate c eta on e_n: W <- W - eta (c G) = W - (c eta) G.  The
    reported training loss is c E_in, the error actually trained on.
    """
    return cfg["lr"] * cfg["loss_scale"]


class NumpyEngine:
    """The reference: compiled batch-1 kernel when it applies (proved identical), else the readable path."""

    def __init__(self, cfg, W, data: Data):
        self.cfg, self.arch, self.data = cfg, architecture(cfg), data
        self.fast = None
        if cfg["batch_size"] == 1 and cfg["dtype"] == "float64":
            from experiments.fast_mlp import FastBatch1Trainer
            self.fast = FastBatch1Trainer(self.arch, W, data.X_train, data.Y_train)
            self.name = "numpy-compiled-batch1"
        else:
            self.W = copy_weights(W)
            self.name = "numpy-readable"

    def weights(self):
        return self.fast.W if self.fast else self.W

    def set_weights(self, W):
        for l in range(1, len(W)):
            self.weights()[l][...] = W[l] if self.fast else W[l]
        if not self.fast:
            self.W = copy_weights(W)

    def epoch(self, order):
        if self.fast:
            return self.cfg["loss_scale"] * self.fast.epoch(rate(self.cfg), order)
        self.W, loss = sgd_epoch(self.arch, self.W, self.data.X_train, self.data.Y_train, rate(self.cfg), self.cfg["batch_size"], order)
        return self.cfg["loss_scale"] * loss

    def accuracy(self, X, labels):
        return float(np.mean(predict(self.arch, self.weights(), X) == labels))


class TorchEngine:
    """The PyTorch twin (framework.mlp), one thread."""

    def __init__(self, cfg, W, data: Data):
        import torch
        from framework.mlp import MLP
        torch.set_num_threads(1)
        self.torch, self.cfg, self.arch = torch, cfg, architecture(cfg)
        self.model = MLP(self.arch, W)
        self.X = torch.from_numpy(data.X_train)
        self.Y = torch.from_numpy(data.Y_train)
        self.name = "torch-eager"

    def weights(self):
        return self.model.weights()

    def set_weights(self, W):
        self.model.load_weights(W)

    def epoch(self, order):
        from framework.mlp import sgd_epoch as torch_epoch
        return self.cfg["loss_scale"] * torch_epoch(self.model, self.X, self.Y, rate(self.cfg), self.cfg["batch_size"], order)

    def accuracy(self, X, labels):
        with self.torch.no_grad():
            out = self.model(self.torch.from_numpy(X))
        return float((out.argmax(1).numpy() == labels).mean())


ENGINES = {"numpy": NumpyEngine, "torch": TorchEngine}


def save_checkpoint(path: Path, W: list, epoch: int, curve: list, chash: str, seconds: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
    np.savez(tmp, epoch=epoch, chash=chash, seconds=seconds, curve=json.dumps(curve), **{f"W{l}": W[l] for l in range(1, len(W))})
    os.replace(tmp, path)


def load_checkpoint(path: Path, chash: str):
    if not path.exists():
        return None
    with np.load(path) as z:
        if str(z["chash"]) != chash:
            return None
        L = sum(1 for k in z.files if k.startswith("W"))
        return {"W": [None] + [z[f"W{l}"] for l in range(1, L + 1)], "epoch": int(z["epoch"]),
                "curve": json.loads(str(z["curve"])), "seconds": float(z["seconds"])}


SAMPLES_PER_CHUNK = 6000  # the samples bar advances once per chunk of whole mini-batches


def epoch_chunks(order: np.ndarray, batch_size: int) -> list:
    """`order` cut into consecutive chunks of whole mini-batches (about SAMPLES_PER_CHUNK samples):
    training chunk after chunk makes exactly the updates of one pass over `order`."""
    size = max(batch_size, SAMPLES_PER_CHUNK // batch_size * batch_size)
    return [order[i:i + size] for i in range(0, len(order), size)]


def run_epoch(engine, order: np.ndarray, batch_size: int, samples_bar) -> float:
    """One epoch over `order`, chunk by chunk, advancing `samples_bar`; returns the mean E_in over
    the epoch's mini-batches."""
    total, batches = 0.0, 0
    for chunk in epoch_chunks(order, batch_size):
        n = -(-len(chunk) // batch_size)
        total += engine.epoch(chunk) * n
        batches += n
        samples_bar.update(len(chunk))
    return total / max(batches, 1)


def train(cfg: dict, seed: int, impl: str, mnist, run_id: str, curve_path: Path | None = None,
          n_train: int | None = None, n_test: int | None = None, progress: bool = False,
          stop_after_epoch: int | None = None, weights_out: Path | None = None) -> dict:
    """Train one run to cfg['epochs'] (resuming from its checkpoint); returns its result fields.

    stop_after_epoch: stop (as if killed) once that epoch is checkpointed; used by the resume test.
    """
    data = prepare(cfg, mnist, n_train, n_test)
    chash = config_hash(cfg, seed, impl, n_train, n_test)
    ckpt_path = CHECKPOINT_DIR / f"{run_id.replace('/', '__')}.npz"
    W0 = initial_weights(cfg, seed)
    engine = ENGINES[impl](cfg, W0, data)
    start, curve, seconds = 0, [], 0.0
    ck = load_checkpoint(ckpt_path, chash)
    if ck is not None:
        engine.set_weights(ck["W"])
        start, curve, seconds = ck["epoch"], ck["curve"], ck["seconds"]
    status = curve[-1]["status"] if curve else "ok"
    N = len(data.X_train)
    epochs_bar = progress_bar(range(start + 1, cfg["epochs"] + 1), desc=run_id, enabled=progress, initial=start,
                              total=cfg["epochs"], unit="epoch")
    samples_bar = progress_bar(total=N, desc="samples", enabled=progress, unit="sample", position=1, unit_scale=True)
    with epochs_bar as bar, samples_bar as samples:
        for epoch in bar:
            if status != "ok":
                break
            samples.reset(total=N)
            t0 = time.perf_counter()
            loss = run_epoch(engine, order_for(seed, epoch, N, cfg["shuffle"]), cfg["batch_size"], samples)
            seconds += time.perf_counter() - t0
            finite = all(np.all(np.isfinite(w)) for w in engine.weights()[1:]) and np.isfinite(loss)
            status = "ok" if finite else "diverged"
            acc = engine.accuracy(data.X_test, data.labels_test) if finite else float("nan")
            curve.append({"epoch": epoch, "train_loss": float(loss), "test_acc": acc, "seconds": seconds, "status": status})
            bar.set_postfix(test_acc=f"{acc:.4f}")
            save_checkpoint(ckpt_path, engine.weights(), epoch, curve, chash, seconds)
            if curve_path is not None:
                write_csv_atomic(pd.DataFrame(curve), curve_path)
            if stop_after_epoch is not None and epoch >= stop_after_epoch:
                return {"stopped_at": epoch}
    if weights_out is not None:
        weights_out.parent.mkdir(parents=True, exist_ok=True)
        np.savez(weights_out, **{f"W{l}": w for l, w in enumerate(engine.weights()) if w is not None})
    accs = [c["test_acc"] for c in curve]
    return {
        "engine": engine.name, "status": status, "epochs_done": len(curve),
        "final_test_acc": accs[-1] if accs else float("nan"),
        "best_test_acc": float(np.nanmax(accs)) if accs and not np.all(np.isnan(accs)) else float("nan"),
        "final_train_loss": curve[-1]["train_loss"] if curve else float("nan"),
        "train_seconds": seconds, "seconds_per_epoch": seconds / max(len(curve), 1),
    }
