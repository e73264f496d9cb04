"""Engines for the study's MLP (Architecture, W[l]): readable NumPy, compiled (numba), torch eager."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reference.forward import predict
from reference.gradient_descent import sgd_epoch
from reference.network import Architecture, copy_weights


@dataclass
class MLPData:
    X_train: np.ndarray
    Y_train: np.ndarray
    X_test: np.ndarray
    labels_train: np.ndarray
    labels_test: np.ndarray


def weights_snapshot(W: list) -> dict:
    return {f"W{l}": np.array(W[l]) for l in range(1, len(W))}


def snapshot_weights(snap: dict) -> list:
    return [None] + [snap[f"W{l}"] for l in range(1, len(snap) + 1)]


class NumpyMLP:
    """The readable reference, reference.gradient_descent.sgd_epoch at any batch size."""

    name = "numpy-readable"

    def __init__(self, arch: Architecture, W: list, data: MLPData, eta: float, batch_size: int, loss_scale=1.0):
        self.arch, self.W, self.data, self.eta, self.batch_size = arch, copy_weights(W), data, eta, batch_size
        self.loss_scale = loss_scale  # reported loss is c E_in, the error trained on (eta already holds c)

    def epoch(self, order, epoch):
        self.W, loss = sgd_epoch(self.arch, self.W, self.data.X_train, self.data.Y_train, self.eta, self.batch_size,
                                 order)
        return self.loss_scale * loss

    def accuracy(self):
        return float(np.mean(predict(self.arch, self.W, self.data.X_test) == self.data.labels_test))

    def snapshot(self):
        return weights_snapshot(self.W)

    def restore(self, snap):
        self.W = copy_weights(snapshot_weights(snap))


class CompiledMLP(NumpyMLP):
    """The compiled batch-1 kernel (experiments/mnist/compiled_mlp.py), float64 only."""

    name = "numpy-compiled-batch1"

    def __init__(self, arch, W, data, eta, batch_size, loss_scale=1.0):
        from experiments.mnist.compiled_mlp import FastBatch1Trainer

        if batch_size != 1:
            raise ValueError(f"the compiled engine runs batch size 1 only, got {batch_size}")
        super().__init__(arch, W, data, eta, batch_size, loss_scale)
        self.fast = FastBatch1Trainer(arch, W, data.X_train, data.Y_train)
        self.W = self.fast.W  # views of the live weights

    def epoch(self, order, epoch):
        return self.loss_scale * self.fast.epoch(self.eta, order)

    def restore(self, snap):
        for l, w in enumerate(snapshot_weights(snap)[1:], start=1):
            self.W[l][...] = w


class TorchMLP:
    """The PyTorch twin (framework.mlp), one thread."""

    name = "torch-eager"

    def __init__(self, arch, W, data: MLPData, eta: float, batch_size: int, loss_scale=1.0):
        import torch

        from framework.mlp import MLP

        self.torch, self.arch, self.data, self.eta, self.batch_size = torch, arch, data, eta, batch_size
        self.loss_scale = loss_scale
        self.model = MLP(arch, W)
        self.X, self.Y = torch.from_numpy(data.X_train), torch.from_numpy(data.Y_train)

    def epoch(self, order, epoch):
        from framework.mlp import sgd_epoch as torch_sgd_epoch

        return self.loss_scale * torch_sgd_epoch(self.model, self.X, self.Y, self.eta, self.batch_size, order)

    def accuracy(self):
        with self.torch.no_grad():
            out = self.model(self.torch.from_numpy(self.data.X_test))
        return float((out.argmax(1).numpy() == self.data.labels_test).mean())

    def snapshot(self):
        return weights_snapshot(self.model.weights())

    def restore(self, snap):
        self.model.load_weights(snapshot_weights(snap))


def mlp_engine(impl: str, batch_size: int, dtype: str):
    """The engine class for an implementation: numpy uses the compiled kernel where it applies
    (batch size 1, float64; proven step for step against the readable path), else the readable one."""
    if impl == "torch":
        return TorchMLP
    if impl != "numpy":
        raise ValueError(f"impl must be 'numpy' or 'torch', got {impl!r}")
    return CompiledMLP if batch_size == 1 and dtype == "float64" else NumpyMLP
