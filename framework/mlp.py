"""The study's network from torch.nn: Linear layers, activations and the two losses.

MLP(arch, W) builds nn.Linear layers holding the same numbers as the reference's W[l]
(framework.convert), so both compute the same function. `signals(x)` returns every s[l] and x[l]
with gradients retained, so tests can compare the study's delta[l] (= N * dE_in/ds[l]) with autograd.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from framework.convert import linear_to_dense, load_into_linear

TORCH_ACTIVATIONS = {
    "identity": nn.Identity,
    "sign": None,  # torch.sign as a function below
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
}


class Sign(nn.Module):
    """theta(s) = sign(s); autograd's derivative is 0 everywhere."""

    def forward(self, s):
        return torch.sign(s)


def torch_activation(name: str) -> nn.Module:
    if name not in TORCH_ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; known activations: {', '.join(sorted(TORCH_ACTIVATIONS))}")
    return Sign() if name == "sign" else TORCH_ACTIVATIONS[name]()


class MLP(nn.Module):
    """Linear layers l = 1..L with the architecture's hidden and output activations."""

    def __init__(self, arch, W: list):
        super().__init__()
        self.arch = arch
        dtype = torch.float64 if W[1].dtype == np.float64 else torch.float32
        self.linears = nn.ModuleList(
            nn.Linear(arch.d[l - 1], arch.d[l], dtype=dtype) for l in range(1, arch.L + 1)
        )
        self.thetas = nn.ModuleList(torch_activation(arch.theta(l).name) for l in range(1, arch.L + 1))
        self.load_weights(W)

    def load_weights(self, W: list) -> None:
        for l, lin in enumerate(self.linears, start=1):
            load_into_linear(lin, W[l])

    def weights(self) -> list:
        """The current weights in the study's layout: [None, W[1], ..., W[L]]."""
        return [None] + [linear_to_dense(lin.weight, lin.bias) for lin in self.linears]

    def signals(self, x: torch.Tensor) -> tuple[list, list]:
        """(s, outs): s[l] and theta(s[l]) for l = 1..L (index 0 holds the input), grads retained."""
        s, outs = [None], [x]
        for lin, theta in zip(self.linears, self.thetas):
            s_l = lin(outs[-1])
            s_l.retain_grad()
            s.append(s_l)
            outs.append(theta(s_l))
        return s, outs

    def last_signal(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(s[L], x[L]) without retaining intermediate gradients (the training path)."""
        out = x
        for lin, theta in zip(self.linears, self.thetas):
            s_l = lin(out)
            out = theta(s_l)
        return s_l, out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.last_signal(x)[1]


def loss(arch, s_L: torch.Tensor, x_L: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """E_in: mean over N of sum_j (x[L] - y)^2, or of the softmax cross-entropy of s[L]."""
    if arch.loss == "cross_entropy":
        return torch.nn.functional.cross_entropy(s_L, y)
    return ((x_L - y) ** 2).sum(dim=1).mean()


def sgd_step(model: MLP, x: torch.Tensor, y: torch.Tensor, eta: float) -> float:
    """One fixed-rate gradient-descent step on the batch (x, y); returns E_in before the step."""
    s_L, x_L = model.last_signal(x)
    E = loss(model.arch, s_L, x_L, y)
    params = list(model.parameters())
    grads = torch.autograd.grad(E, params)
    with torch.no_grad():
        # p <- p - eta * grad, in one fused call; eta * grad is rounded as the reference rounds eta G
        torch._foreach_sub_(params, torch._foreach_mul(grads, eta))
    return float(E.detach())


def sgd_epoch(model: MLP, X: torch.Tensor, Y: torch.Tensor, eta: float, batch_size: int, order: np.ndarray) -> float:
    """One epoch of mini-batch SGD over X[order] (the same order the reference is given)."""
    order = torch.from_numpy(np.asarray(order, dtype=np.int64))
    losses = [sgd_step(model, X[idx], Y[idx], eta) for idx in torch.split(order, batch_size)]
    return float(np.mean(losses))
