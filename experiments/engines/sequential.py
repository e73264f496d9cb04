"""Engines for the Sequential model (reference/sequential.py) and its torch twin (framework/cnn.py).

Both train with mini-batches of `batch(idx)` (the inputs of the samples idx, e.g. augmented), the mean
of the model's own loss (the twin trains on that loss's torch twin), an optimizer (reference/optim.py,
twinned by torch.optim) and a learning rate `lr_at(epoch)` per epoch. A snapshot holds parameters, layer
state (running statistics) and the optimizer's buffers, so that a resumed run continues exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass
class ImageData:
    X_train: np.ndarray  # (N, C, H, W)
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray


def flatten_nested(prefix: str, layers: list) -> dict:
    """[{key: array}] -> {f"{prefix}{i}.{key}": array} (the layout of snapshots)."""
    return {f"{prefix}{i}.{k}": np.array(v) for i, d in enumerate(layers) for k, v in d.items()}


def unflatten_nested(prefix: str, snap: dict, n: int) -> list:
    out = [{} for _ in range(n)]
    for name, v in snap.items():
        if name.startswith(prefix):
            i, k = name[len(prefix):].split(".", 1)
            out[int(i)][k] = v
    return out


def max_param_diff(a: dict, b: dict) -> float:
    """max |a - b| over the parameters of two snapshots."""
    return max((float(np.max(np.abs(a[k] - b[k]))) for k in a if k.startswith("param.")), default=0.0)


def opt_snapshot(opt_state: dict) -> dict:
    snap = {"opt.step": np.array(opt_state["step"])}
    for i, slots in enumerate(opt_state["slots"]):
        for key, bufs in slots.items():
            for b, v in bufs.items():
                snap[f"opt.{i}.{key}.{b}"] = np.array(v)
    return snap


def opt_restore(opt_state: dict, snap: dict) -> dict:
    for name, v in snap.items():
        if name.startswith("opt.") and name != "opt.step":
            _, i, key, b = name.split(".", 3)
            opt_state["slots"][int(i)].setdefault(key, {})[b] = v.copy()
    return {"step": int(snap["opt.step"]), "slots": opt_state["slots"]}


class NumpySequential:
    """The reference model trained by the reference optimizer."""

    name = "numpy-sequential"

    def __init__(self, model, params, state, data: ImageData, optimizer, lr_at: Callable[[int], float],
                 batch_size: int, batch: Callable[[np.ndarray], np.ndarray] | None = None, seed: int = 0):
        self.model, self.data, self.optimizer, self.lr_at, self.batch_size = model, data, optimizer, lr_at, batch_size
        self.params = [{k: v.copy() for k, v in p.items()} for p in params]
        self.state = [{k: v.copy() for k, v in s.items()} for s in state]
        self.opt_state = optimizer.init(self.params)
        self.batch = batch or (lambda idx: data.X_train[idx])
        self.rng = np.random.default_rng([seed, 2])  # dropout masks

    def epoch(self, order, epoch):
        lr, losses = self.lr_at(epoch), []
        for i in range(0, len(order), self.batch_size):
            idx = order[i:i + self.batch_size]
            r = self.model.loss_and_grads(self.batch(idx), self.data.y_train[idx], self.params, self.state,
                                          train=True, rng=self.rng)
            self.state = r.state
            self.opt_state = self.optimizer.step(self.params, r.grads, self.opt_state, lr)
            losses.append(r.loss)
        return float(np.mean(losses))

    def predict(self, X):
        return self.model.predict(X, self.params, self.state)

    def accuracy(self):
        return float(np.mean(self.predict(self.data.X_test) == self.data.y_test))

    def snapshot(self):
        return {**flatten_nested("param.", self.params), **flatten_nested("state.", self.state),
                **opt_snapshot(self.opt_state)}

    def restore(self, snap):
        n = len(self.model.layers)
        self.params, self.state = unflatten_nested("param.", snap, n), unflatten_nested("state.", snap, n)
        self.opt_state = opt_restore(self.optimizer.init(self.params), snap)


class TorchSequential(NumpySequential):
    """The torch twin trained by torch.optim with the same hyper-parameters, one thread."""

    name = "torch-sequential"

    def __init__(self, model, params, state, data, optimizer, lr_at, batch_size, batch=None, seed: int = 0):
        import torch

        from framework.cnn import build_twin, twin_loss
        from framework.optim import torch_optimizer

        self.torch, self.model, self.data, self.lr_at, self.batch_size = torch, model, data, lr_at, batch_size
        self.optimizer = optimizer
        self.twin = build_twin(model, params, state)
        self.loss = twin_loss(model)
        self.opt = torch_optimizer(optimizer, self.twin)
        self.batch = batch or (lambda idx: data.X_train[idx])
        self.y = torch.from_numpy(np.asarray(data.y_train, dtype=np.int64))

    def epoch(self, order, epoch):
        from framework.optim import set_lr

        torch = self.torch
        set_lr(self.opt, self.lr_at(epoch))
        self.twin.train()
        losses = []
        for i in range(0, len(order), self.batch_size):
            idx = order[i:i + self.batch_size]
            self.opt.zero_grad(set_to_none=True)
            E = self.loss(self.twin(torch.from_numpy(np.ascontiguousarray(self.batch(idx)))),
                          self.y[torch.from_numpy(np.asarray(idx))])
            E.backward()
            self.opt.step()
            losses.append(float(E.detach()))
        return float(np.mean(losses))

    def predict(self, X, batch_size: int = 1000):
        self.twin.eval()
        with self.torch.no_grad():
            out = [self.twin(self.torch.from_numpy(X[i:i + batch_size])).argmax(1).numpy()
                   for i in range(0, X.shape[0], batch_size)]
        return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)

    def snapshot(self):
        from framework.cnn import twin_params, twin_state
        from framework.optim import optimizer_state

        opt = optimizer_state(self.opt, self.twin, self.model)
        opt = {"step": opt["step"] or 0, "slots": opt["slots"]}
        return {**flatten_nested("param.", twin_params(self.twin, self.model)),
                **flatten_nested("state.", twin_state(self.twin, self.model)), **opt_snapshot(opt)}

    def restore(self, snap):
        from framework.cnn import build_twin
        from framework.optim import torch_optimizer

        n = len(self.model.layers)
        params, state = unflatten_nested("param.", snap, n), unflatten_nested("state.", snap, n)
        self.twin = build_twin(self.model, params, state)
        self.opt = torch_optimizer(self.optimizer, self.twin)
        opt = opt_restore({"step": 0, "slots": [{} for _ in range(n)]}, snap)
        names = sorted({b for slots in opt["slots"] for bufs in slots.values() for b in bufs})
        for b in names:
            # a twin built from the buffers lays them out as torch's parameters, in the same order
            as_params = [{k: bufs[b] for k, bufs in slots.items()} for slots in opt["slots"]]
            carrier = build_twin(self.model, as_params, state)
            for p, v in zip(self.twin.parameters(), carrier.parameters()):
                self.opt.state[p][b] = v.detach().clone()
                if "exp_avg" in names:  # Adam counts steps per parameter
                    self.opt.state[p]["step"] = self.torch.tensor(float(opt["step"]), dtype=self.torch.float32)


SEQUENTIAL_ENGINES = {"numpy": NumpySequential, "torch": TorchSequential}
